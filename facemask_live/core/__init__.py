"""What every stage shares: typed settings (config, zones), typed results, errors, geometry, metrics."""
