"""What the dashboard shows, as data: pure functions over the manifest, runs and history frames, one module
per topic.

Nothing here imports Streamlit or reads the environment, the clock or the disk: every function that depends
on "now" takes it. The pages (``dashboard/``) only lay these out; :mod:`checks.presentation.plots` draws the
frames built here.

* :mod:`~checks.presentation.views.overview`: the verdict banner, the time left, the area cards, blockers,
  open escalations and each milestone's criteria;
* :mod:`~checks.presentation.views.latest`: the "current" run, the latest complete sweep with newer
  single-check re-runs laid over it;
* :mod:`~checks.presentation.views.checks_table`: the checks table, one check's last change, sparkline and
  evidence, the statuses worth attesting;
* :mod:`~checks.presentation.views.oauth`: OAuth apps' attested lifecycle, redirect URIs and approval Gantt;
* :mod:`~checks.presentation.views.trends`: share of blocking checks passing, the area x time heatmap, time
  to green;
* :mod:`~checks.presentation.views.credentials`: the vault's credentials expiring soon;
* :mod:`~checks.presentation.views.watcher`: the watcher's leader, last sweep, and the silent-watcher warning;
* :mod:`~checks.presentation.views.notifications`: the watcher's notifications and the alerts still open.
"""
