"""Export and deployment: ONNX / TorchScript files that carry their preprocessing and check themselves
against PyTorch (export, checks), run like a model (runtime), and profiles of a model (profile). Modules are
imported where used: the command line checks its arguments (options) before torch is imported."""
