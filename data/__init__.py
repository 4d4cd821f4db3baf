"""Reference and sample data shipped with mujun (read with :func:`mujun.layers.sample.data_dir`)."""
