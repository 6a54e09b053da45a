"""experiments: configs, the sweep runner, the ``polylab`` CLI, plots and reports."""
