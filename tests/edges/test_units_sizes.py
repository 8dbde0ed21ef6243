"""Memory sizes as people write them (units.py) and numbers read from a checkpoint's configs (sizes.py), at their edges.

Each boundary is tried on both sides and each refusal's words are checked: these are what a user reads when a
budget or a config is wrong.
"""

from __future__ import annotations

import pytest

from autopipe_core import Identity, InvalidModelError, PlacementError
from autopipe_core.sizes import config_int, native_size
from autopipe_core.specs import MAX_IMAGE_SIDE
from autopipe_core.units import MAX_BYTES, GiB, KiB, MiB, TiB, gib, human, parse_memory

NOT_A_SIZE = (
    "is not a size: write a number with a unit, e.g. 8GiB or 1.5GiB (KiB, MiB, GiB, TiB are powers of 1024, as GPU memory "
    "is counted; KB, MB, GB, TB are powers of 1000)"
)


@pytest.mark.parametrize(
    "text, nbytes",
    [
        ("1b", 1), ("1B", 1), (".5GiB", GiB // 2), ("0.25 MiB", MiB // 4), ("1 kb", 1000), ("1KiB", KiB), ("3mb", 3 * 10**6),
        ("2 Gb", 2 * 10**9), ("1tib", TiB), ("1TB", 10**12), ("8", 8), (" 8 ", 8), ("1048576TiB", MAX_BYTES),
    ],
)
def test_every_unit_and_spelling(text, nbytes):
    assert parse_memory(text) == nbytes


@pytest.mark.parametrize("value", [1, MAX_BYTES])
def test_integers_of_bytes_from_one_to_an_exbibyte(value):
    assert parse_memory(value) == value


@pytest.mark.parametrize("value", [0, -5, MAX_BYTES + 1])
def test_integers_out_of_range_are_refused_with_the_range(value):
    with pytest.raises(PlacementError) as info:
        parse_memory(value)
    assert str(info.value) == f"memory must be a positive number of bytes, at most {MAX_BYTES}, not {value}"


@pytest.mark.parametrize("value", [True, False, 1.5, None, [8]])
def test_what_is_neither_an_integer_nor_a_string_is_refused(value):
    with pytest.raises(PlacementError) as info:
        parse_memory(value)
    assert str(info.value) == f"memory must be an integer of bytes or a string such as '8GiB', not {value!r}"


@pytest.mark.parametrize("text", ["lots", "8 gigs", "1EiB", "1e3GiB", "-1GiB", "GiB", "", "8 GiB GiB"])
def test_what_is_not_a_size_says_what_is(text):
    with pytest.raises(PlacementError) as info:
        parse_memory(text)
    assert str(info.value) == f"memory {text!r} {NOT_A_SIZE}"


def test_a_long_mistake_is_quoted_in_part():
    with pytest.raises(PlacementError) as info:
        parse_memory("x" * 100)
    assert str(info.value) == f"memory {'x' * 40!r} {NOT_A_SIZE}"


@pytest.mark.parametrize("text", ["0GiB", "0.1", "0.4b", "1048577TiB", "99999999999999999999TiB"])
def test_sizes_that_round_to_nothing_or_pass_an_exbibyte_are_refused(text):
    with pytest.raises(PlacementError) as info:
        parse_memory(text)
    assert str(info.value) == f"memory {text!r} must be more than 0 bytes and at most 1 EiB"


@pytest.mark.parametrize("text", ["8", " 8 "])
def test_a_unit_can_be_required(text):
    with pytest.raises(PlacementError) as info:
        parse_memory(text, unit_required=True)
    assert str(info.value) == f"memory {text!r} has no unit: write it with one, e.g. 8GiB (GiB = 2**30 bytes, GB = 10**9)"
    assert parse_memory("8GiB", unit_required=True) == 8 * GiB


@pytest.mark.parametrize(
    "n, text",
    [(0, "0 bytes"), (1023, "1023 bytes"), (KiB, "1.00 KiB"), (MiB - 1, "1024.00 KiB"), (MiB, "1.00 MiB"), (3 * MiB // 2, "1.50 MiB"),
     (GiB - 1, "1024.00 MiB"), (GiB, "1.00 GiB"), (5 * TiB, "5120.00 GiB")],
)
def test_human_picks_the_binary_unit_that_reads_best(n, text):
    assert human(n) == text


@pytest.mark.parametrize("n, text", [(0, "0.00 GiB"), (3 * GiB // 2, "1.50 GiB"), (GiB // 100, "0.01 GiB"), (40 * GiB, "40.00 GiB")])
def test_gib_speaks_in_gib_with_two_decimals(n, text):
    assert gib(n) == text


def _identity(**unet) -> Identity:
    return Identity("folder", "/models/m", "StableDiffusionPipeline", configs={"unet": unet} if unet else {})


@pytest.mark.parametrize(
    "unet, value",
    [({"sample_size": 1}, 1), ({"sample_size": 10}, 10), ({}, 7), ({"sample_size": None}, 7), ({"sample_size": [64, 96]}, 7), ({"sample_size": (64,)}, 7)],
)
def test_config_int_reads_an_integer_in_range_or_gives_the_default(unet, value):
    assert config_int(_identity(**unet), "unet", "sample_size", 1, 10, default=7) == value


def test_config_int_of_a_component_without_a_config_is_the_default():
    assert config_int(_identity(sample_size=3), "vae", "sample_size", 1, 10) is None
    assert config_int(_identity(sample_size=3), "vae", "sample_size", 1, 10, default=4) == 4


@pytest.mark.parametrize("value, shown", [(0, "0"), (11, "11"), (True, "True"), (1.5, "1.5"), ("8", "8"), (1e300, "1e+300"), (10**50, "1" + "0" * 19 + "... (51 characters)"),
                                          pytest.param(10**5000, f"an integer of {(10**5000).bit_length()} bits", id="10**5000")])
def test_config_int_refuses_anything_else_naming_the_config_and_key(value, shown):
    with pytest.raises(InvalidModelError) as info:
        config_int(_identity(sample_size=value), "unet", "sample_size", 1, 10)
    assert str(info.value) == (
        f"/models/m: unet/config.json says sample_size = {shown}, which is not a whole number from 1 to 10. "
        "The config is corrupt or was edited by hand: restore it from the original checkpoint."
    )


def test_native_size_is_the_latent_side_times_the_vae_factor():
    assert native_size(_identity(sample_size=64), 999) == 512
    assert native_size(_identity(sample_size=128), 999) == 1024
    assert native_size(_identity(), 999) == 999
    assert native_size(_identity(sample_size=64), 999, scale=4) == 256
    assert native_size(_identity(sample_size=64, latent=32), 999, key="latent") == 256
    movq = Identity("folder", "/m", "X", configs={"movq": {"sample_size": 96}, "unet": {"sample_size": 2}})
    assert native_size(movq, 999, component="movq", scale=1) == 96


def test_native_size_refuses_a_side_beyond_the_largest_image():
    assert native_size(_identity(sample_size=MAX_IMAGE_SIDE // 8), 1) == MAX_IMAGE_SIDE // 8 * 8
    with pytest.raises(InvalidModelError, match=f"from 1 to {MAX_IMAGE_SIDE // 8}\\."):
        native_size(_identity(sample_size=MAX_IMAGE_SIDE // 8 + 1), 1)
    with pytest.raises(InvalidModelError, match="from 1 to "):
        native_size(_identity(sample_size=0), 1)


@pytest.mark.parametrize(
    "value, shown",
    [
        ("x" * 40, "x" * 40),  # up to 40 characters: whole
        ("y" * 20 + "z" * 21, "y" * 20 + "... (41 characters)"),
        (2**3999, f"{str(2**3999)[:20]}... ({len(str(2**3999))} characters)"),  # 4,000 bits: str() still works
        (2**4000, "an integer of 4001 bits"),
        (-(2**4000), "an integer of 4001 bits"),
    ],
)
def test_a_refused_value_is_shown_whole_or_cut_at_its_edges(value, shown):
    with pytest.raises(InvalidModelError) as info:
        config_int(_identity(sample_size=value), "unet", "sample_size", 1, 10)
    assert f"says sample_size = {shown}, which is not" in str(info.value)


def test_native_size_takes_a_side_of_one_and_says_its_range_in_whole_numbers():
    assert native_size(_identity(sample_size=1), 999) == 8
    assert native_size(_identity(sample_size=1), 999, scale=3) == 3
    with pytest.raises(InvalidModelError) as info:
        native_size(_identity(sample_size=MAX_IMAGE_SIDE), 1, scale=3)
    assert f"which is not a whole number from 1 to {MAX_IMAGE_SIDE // 3}. The config is corrupt" in str(info.value)


@pytest.mark.parametrize("text", ["0", "0.0", " 0 "])
def test_zero_without_a_unit_is_said_to_be_too_small_not_to_lack_a_unit(text):
    # It advised "e.g. 0GiB", which was then refused as too small.
    with pytest.raises(PlacementError) as info:
        parse_memory(text, unit_required=True)
    assert str(info.value) == f"memory {text!r} must be more than 0 bytes and at most 1 EiB"
