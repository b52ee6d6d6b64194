"""
The a1.art Open API on the emulator kit: its state, catalog, codes and endpoints.

``_emulator.Emulator`` is the public emulator; ``_store`` its state, ``_catalog`` the
seeded apps, ``_codes`` the documented codes, ``_endpoints`` the five endpoints,
``_cdn`` the files its CDN serves, ``_faults`` its knobs, ``_server`` its ``serve``
command.
"""
