"""Property-based tests: malformed and corrupted demos files against jaxil.data.load_demos.

Whatever the bytes on disk, loading either gives demos that pass validation or raises
DemosError (never another exception type, never a crash); a failed save leaves the
existing pair byte for byte as it was. Examples are derandomized, so CI runs the same
cases every time.
"""

import json
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxil import data, envs
from jaxil.data import DemosError, DemosMeta

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SPEC = envs.make("cartpole").spec
N = 10  # transitions: episodes of 4 and 6


def valid_demos() -> data.Demos:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(N + 1, 4)).astype(np.float32)
    episode = np.array([0] * 4 + [1] * 6)
    ends = np.isin(np.arange(N), [3, 9])
    return data.make_demos(obs[:-1], rng.integers(0, 2, N), obs[1:], np.ones(N), ends & (episode == 0),
                           ends & (episode == 1), episode)


DEMOS = valid_demos()
META = DemosMeta(SPEC, (4.0, 6.0), source="fuzz base", expert_return=500.0, random_return=20.0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def pristine(workdir):
    """The bytes of a valid saved pair: (npz, json)."""
    npz = data.save_demos(str(workdir / "pristine"), DEMOS, META)
    return open(npz, "rb").read(), open(npz[:-4] + ".json", "rb").read()


def without_checksum(json_bytes: bytes) -> bytes:
    """Metadata as older versions wrote it, so that damaged arrays reach the array checks."""
    d = json.loads(json_bytes)
    d.pop("arrays_sha256")
    return json.dumps(d).encode()


def write_pair(directory, name, npz_bytes, json_bytes) -> str:
    path = os.path.join(directory, name)
    with open(path + ".npz", "wb") as f:
        f.write(npz_bytes)
    with open(path + ".json", "wb") as f:
        f.write(json_bytes)
    return path + ".npz"


def load_or_demos_error(path):
    """Loads, or returns the DemosError; anything else propagates and fails the test."""
    try:
        demos, meta = data.load_demos(path, SPEC)
    except DemosError as e:
        assert os.path.basename(path)[:-4] in str(e)  # the message names the file
        return e
    data.validate(demos, SPEC)
    return demos


def same_arrays(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


# ---- bytes ---------------------------------------------------------------------------

@FUZZ
@given(npz=st.binary(max_size=600), garbage_json=st.booleans(), json_blob=st.binary(max_size=200))
def test_random_bytes_raise_demos_error(workdir, pristine, npz, garbage_json, json_blob):
    path = write_pair(workdir, "random", npz, json_blob if garbage_json else pristine[1])
    with pytest.raises(DemosError):
        data.load_demos(path)


def mutations(blob: bytes):
    """Up to 4 byte edits, half of them within the zip's headers, where damage is subtle."""
    headers = [i + k for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06")
               for i in _find_all(blob, sig) for k in range(46) if i + k < len(blob)]
    position = st.integers(0, len(blob) - 1) | (st.sampled_from(headers) if headers else st.nothing())
    flip = st.tuples(st.just("set"), position, st.integers(0, 255))
    cut = st.tuples(st.just("cut"), position, st.just(0))
    insert = st.tuples(st.just("insert"), position, st.integers(0, 255))
    return st.lists(st.one_of(flip, flip, cut, insert), min_size=1, max_size=4)


def _find_all(blob: bytes, sub: bytes) -> list[int]:
    out, i = [], blob.find(sub)
    while i >= 0:
        out.append(i)
        i = blob.find(sub, i + 1)
    return out


def mutate(blob: bytes, edits) -> bytes:
    out = bytearray(blob)
    for op, pos, value in edits:
        pos = min(pos, max(len(out) - 1, 0))
        if op == "set" and out:
            out[pos] = value
        elif op == "cut":
            del out[pos:]
        elif op == "insert":
            out.insert(pos, value)
    return bytes(out)


@FUZZ
@given(data_=st.data(), target=st.sampled_from(["npz", "json", "npz-legacy-json"]))
def test_corrupted_file_raises_demos_error_or_loads_the_original(workdir, pristine, data_, target):
    npz, js = pristine
    if target == "json":
        js = mutate(js, data_.draw(mutations(js)))
    else:
        npz = mutate(npz, data_.draw(mutations(npz)))
        js = without_checksum(js) if target == "npz-legacy-json" else js
    out = load_or_demos_error(write_pair(workdir, "corrupt", npz, js))
    if not isinstance(out, DemosError):
        # Damage the loader tolerated (zip header padding, JSON whitespace) changes no array.
        assert same_arrays(out, DEMOS)


# ---- arrays --------------------------------------------------------------------------

EDITS = ["nan", "inf", "drop_key", "scalar", "empty", "extra_dim", "short", "bad_action", "object", "complex",
         "strings", "episode_order", "float64", "wrong_kind"]
# Edits that can never give valid demos; the others (float64 obs) may.
ALWAYS_INVALID = set(EDITS) - {"float64"}


def edited_arrays(edit: str, field: str, row: int) -> dict:
    arrays = {k: np.asarray(v).copy() for k, v in DEMOS._asdict().items() if k != "mask"}
    x = arrays[field]
    if edit in ("nan", "inf"):
        arrays["obs"][row, row % 4] = np.nan if edit == "nan" else -np.inf
    elif edit == "drop_key":
        del arrays[field]
    elif edit == "scalar":
        arrays[field] = np.asarray(x.flat[0])
    elif edit == "empty":
        arrays = {k: v[:0] for k, v in arrays.items()}
    elif edit == "extra_dim":
        arrays[field] = x[..., None, None]
    elif edit == "short":
        arrays[field] = np.delete(x, row, axis=0)
    elif edit == "bad_action":
        arrays["action"][row] = [-1, 2, 2**31 - 1][row % 3]
    elif edit == "object":
        arrays[field] = x.astype(object)
    elif edit == "complex":
        arrays["obs"] = arrays["obs"].astype(np.complex64)
    elif edit == "strings":
        arrays[field] = x.astype(str)
    elif edit == "episode_order":
        arrays["episode"] = np.roll(arrays["episode"], row % (N - 1) + 1)  # never a full turn
    elif edit == "float64":
        arrays["obs"] = arrays["obs"].astype(np.float64)
    elif edit == "wrong_kind":
        arrays["terminated"] = arrays["terminated"].astype(np.float32) + 0.5
    return arrays


@FUZZ
@given(edit=st.sampled_from(EDITS), field=st.sampled_from(list(data.Demos._fields[:-1])), row=st.integers(0, N - 1))
def test_malformed_arrays_raise_demos_error(workdir, pristine, edit, field, row):
    arrays = edited_arrays(edit, field, row)
    path = os.path.join(workdir, "malformed.npz")
    np.savez(path, **arrays)  # object arrays are pickled: the loader must refuse, not unpickle
    with open(path[:-4] + ".json", "wb") as f:
        f.write(without_checksum(pristine[1]))
    out = load_or_demos_error(path)
    if edit in ALWAYS_INVALID:
        assert isinstance(out, DemosError), (edit, field, row)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
META_FIELDS = ["format", "env", "returns", "source", "expert_return", "random_return", "extra", "env.name",
               "env.obs_size", "env.action_size", "env.discrete", "env.max_episode_steps", "env.action_low",
               "env.options", "env.unknown_field"]


@FUZZ
@given(field=st.sampled_from(META_FIELDS), value=JSON_VALUES, drop=st.booleans())
def test_malformed_metadata_raises_demos_error(workdir, pristine, field, value, drop):
    meta = json.loads(pristine[1])
    parent, _, key = field.rpartition(".")
    target = meta[parent] if parent else meta
    if drop:
        target.pop(key, None)
    else:
        target[key] = value
    out = load_or_demos_error(write_pair(workdir, "badmeta", pristine[0], json.dumps(meta).encode()))
    if not isinstance(out, DemosError):
        assert same_arrays(out, DEMOS)


# ---- saving over an existing pair ------------------------------------------------------

@FUZZ
@given(edit=st.sampled_from(["nan", "inf", "bad_action", "episode_order", "short"]), row=st.integers(0, N - 1),
       fail_at=st.integers(0, 3))
def test_failed_save_leaves_the_existing_pair_whole(workdir, pristine, edit, row, fail_at):
    path = write_pair(workdir, "existing", *pristine)
    before = sorted(os.listdir(workdir))
    bad = edited_arrays(edit, "action", row)
    with pytest.raises(DemosError):
        data.save_demos(path, data.Demos(**bad, mask=np.ones(len(bad["obs"]), np.float32)), META)
    # A valid save interrupted at its fail_at-th file replacement (0: the .npz, 1: the .json).
    other = data.select_trajectories(DEMOS, 1)
    replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at + 1:
            raise OSError(f"disk full writing {dst}")
        return replace(src, dst)

    with mock.patch("os.replace", failing_replace):
        if fail_at < 2:
            with pytest.raises(OSError, match="disk full"):
                data.save_demos(path, other, DemosMeta(SPEC, (4.0,)))
        else:  # the save completed before the failure point
            data.save_demos(path, other, DemosMeta(SPEC, (4.0,)))
    after = open(path, "rb").read(), open(path[:-4] + ".json", "rb").read()
    assert sorted(os.listdir(workdir)) == before  # no temp files left behind
    if fail_at < 2:
        assert after == pristine
    else:
        assert same_arrays(data.load_demos(path, SPEC)[0], other)


def test_halves_of_different_saves_are_refused(workdir, pristine):
    path = write_pair(workdir, "mixed", *pristine)
    other = data.save_demos(str(workdir / "other"), data.select_trajectories(DEMOS, 1), DemosMeta(SPEC, (4.0,)))
    with open(other, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    js = json.loads(pristine[1])
    js["returns"] = [4.0]  # so that only the checksum can tell
    with open(path[:-4] + ".json", "w") as f:
        json.dump(js, f)
    with pytest.raises(DemosError, match=r"mixed\.npz: the arrays are not the ones saved with mixed\.json"):
        data.load_demos(path)


def test_header_claiming_a_huge_array_is_refused_before_allocating(workdir):
    import zipfile

    path = os.path.join(workdir, "huge.npz")
    np.savez(path, **{k: np.asarray(v) for k, v in DEMOS._asdict().items() if k != "mask"})
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    # Same header length (version 1.0: 10 bytes, then the padded dict): the shape (10, 4)
    # becomes (10000000000000, 4), the padding absorbs the extra digits.
    blob = members["obs.npy"]
    end = 10 + int.from_bytes(blob[8:10], "little")
    header = blob[:end].decode("latin1").replace("(10, 4)", "(10000000000000, 4)").replace(" " * 12 + "\n", "\n")
    assert len(header) == end
    members["obs.npy"] = header.encode("latin1") + blob[end:]
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    with open(path[:-4] + ".json", "w") as f:
        json.dump(META.to_dict(), f)
    with pytest.raises(DemosError, match=r"array 'obs' claims shape \(10000000000000, 4\) of float32 "
                                         r"\(160000000000000 bytes\) but holds 160 bytes"):
        data.load_demos(path)


def test_member_flagged_as_encrypted_is_demos_error(workdir, pristine):
    """One flipped bit in the zip's central directory makes zipfile raise RuntimeError."""
    blob = bytearray(pristine[0])
    entry = blob.find(b"PK\x01\x02")  # the first member's central directory entry
    blob[entry + 8] |= 0x1  # general purpose flag, bit 0: encrypted
    path = write_pair(workdir, "encrypted", bytes(blob), pristine[1])
    with pytest.raises(DemosError, match=r"encrypted\.npz: array '\w+' is unreadable .*password required"):
        data.load_demos(path)
