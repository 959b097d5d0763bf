"""Linux mechanisms, knowing nothing of the container lifecycle.

This package is the only place that calls ctypes or touches /proc, /sys and
mount tables.  Nothing here imports ``runcgo.ops`` or ``runcgo.cli``.
"""
