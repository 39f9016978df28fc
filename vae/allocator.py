"""An explicit, opt-in allocator setting for training loops (never applied by `import vae`).

It tunes the process, not the autodiff, so it lives with the application (`python -m vae train`
calls it unless --no-tune-allocator), not in minigrad.

glibc's malloc gives arrays above its mmap threshold straight to the kernel and returns them on free,
so a training step that makes the same large temporaries every time pays for fresh pages on every step
(on some virtual machines ~4 µs a page, thousands of pages a step). Raising the mmap threshold and the
trim threshold makes glibc keep freed memory and hand it out again. `tune_allocator()` does that with
mallopt(3) through ctypes; where the C library is not glibc it changes nothing and says so.
"""

import ctypes
import ctypes.util
import platform

__all__ = ["tune_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
TUNED = {"mmap_threshold": 32 * 2**20, "trim_threshold": 2**30}
DEFAULTS = {"mmap_threshold": 128 * 2**10, "trim_threshold": 128 * 2**10}


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def tune_allocator(enable=True, verbose=False):
    """Keep freed memory for reuse: mmap threshold 32 MiB, trim threshold 1 GiB (enable=True), or put
    glibc's documented defaults back (128 KiB each; enable=False). Returns the settings applied, or None
    when the C library is not glibc (nothing is changed; a message is printed if verbose)."""
    libc = _glibc()
    if libc is None:
        if verbose:
            print("vae.tune_allocator: not glibc on Linux; the allocator is left as it is")
        return None
    settings = TUNED if enable else DEFAULTS
    ok = (libc.mallopt(_M_MMAP_THRESHOLD, settings["mmap_threshold"]) == 1
          and libc.mallopt(_M_TRIM_THRESHOLD, settings["trim_threshold"]) == 1)
    if not ok:
        raise OSError("vae.tune_allocator: mallopt rejected the setting")
    if verbose:
        print(f"vae.tune_allocator: {settings}")
    return dict(settings)
