"""ecomvision shared core: configs, data, augmentation, metrics, logging, weights and callbacks."""
