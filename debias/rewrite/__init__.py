"""The tail rewrite: which steps an intervention covers (``intervention``), the in-place token
rewrite of one batch of rows (``rows``), the whole tail as datatrove pipelines (``tail`` over
``engine``), its proof (``verify``), the other arms' tails (``arms``) and the command (``cli``;
``python -m debias.rewrite``)."""
