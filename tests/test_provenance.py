"""What results record about where they were made: the CPU."""

from __future__ import annotations

import platform

from lookloss import provenance

TWO_CPUS = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model\t\t: {model}
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx {flags}

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 99
model\t\t: 99
model name\t: another name
flags\t\t: fpu
"""


def test_a_bare_cpu_name_is_told_apart_by_family_model_and_vector_unit(tmp_path):
    zen5, zen2 = tmp_path / "zen5", tmp_path / "zen2"
    zen5.write_text(TWO_CPUS.format(family=26, model=2, flags="avx2 avx512f avx512bw"))
    zen2.write_text(TWO_CPUS.format(family=23, model=49, flags="avx2 fma"))
    assert provenance.cpu_model(zen5) == "AMD EPYC (family 26, model 2, AVX-512)"
    assert provenance.cpu_model(zen2) == "AMD EPYC (family 23, model 49, AVX2)"


def test_a_cpuinfo_without_those_fields_gives_what_it_has(tmp_path):
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\nprocessor\t: 1\n")
    fallback = platform.processor() or platform.machine() or "unknown"
    assert provenance.cpu_model(arm) == fallback
    assert provenance.cpu_model(tmp_path / "missing") == fallback
