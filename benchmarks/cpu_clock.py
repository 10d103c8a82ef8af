"""The clock a core actually runs at, measured: the ISA peak's clock where the kernel reports only the nominal one.

Under a hypervisor /proc/cpuinfo's "cpu MHz" is the nominal clock (2.45 GHz on the EPYC these benchmarks ran
on) while the cores boost well above it, so an ISA peak computed from it came out below the GEMMs measured on
the same machine. `measured_ghz` times a chain of dependent register adds (`add rax, rdx`: one cycle of
latency on every x86-64 core; a register operand, not an immediate, so no renamer folds it away), 200 per loop
iteration, in a few bytes of machine code run through ctypes: cycles are known, so cycles over seconds is the
clock. The best of many short runs is taken (a preempted run is only slower). One core, scalar: the highest
clock any core reaches, so a peak computed from it bounds what all cores can do under vector load.

Linux on x86-64 only (anonymous executable memory, the System V calling convention); elsewhere, or where
executable memory is refused, it returns None and the caller keeps the reported clock.
"""
import ctypes
import mmap
import platform
import sys
import time

ADDS_PER_ITERATION = 200
_PROLOGUE = bytes([0x31, 0xC0,                          # xor eax, eax
                   0xBA, 0x01, 0x00, 0x00, 0x00])       # mov edx, 1
_ADD = bytes([0x48, 0x01, 0xD0])                        # add rax, rdx
_DEC_RDI = bytes([0x48, 0xFF, 0xCF])                    # dec rdi (the first argument: iterations)
_RET = bytes([0xC3])


def _loop_code():
    body = _ADD * ADDS_PER_ITERATION + _DEC_RDI
    back = -(len(body) + 6)                              # jnz rel32 back to the first add
    return _PROLOGUE + body + bytes([0x0F, 0x85]) + back.to_bytes(4, "little", signed=True) + _RET


def measured_ghz(runs=300, seconds_per_run=0.001):
    """The best clock seen over `runs` short runs, in GHz; None where the measurement cannot run here."""
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        return None
    code = _loop_code()
    try:
        memory = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    try:
        memory.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
        loop = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)(address)
        iterations = int(seconds_per_run * 3e9 / ADDS_PER_ITERATION)  # about the run's length at 3 GHz
        if loop(iterations) != iterations * ADDS_PER_ITERATION:  # the code ran as written
            return None
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            loop(iterations)
            best = min(best, time.perf_counter() - start)
        del loop, address  # the buffer's export must end before the map closes
        return iterations * ADDS_PER_ITERATION / best / 1e9
    finally:
        try:
            memory.close()
        except BufferError:
            pass

