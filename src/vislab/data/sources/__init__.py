"""One module per dataset (or per set of datasets read alike, such as MNIST and Fashion-MNIST): each holds
``READS``, ``build(cfg.data, cfg.aug) -> DataBundle`` and ``status(root)``, registered in data.registry.DATASETS. None
imports another; what two share lives in families/ or files/."""
