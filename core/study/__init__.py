"""The paper's studies at scale: the grid config, per-sample evaluation, a resumable
result store, local-pool or Dask runners, figures and the reproduction report."""
