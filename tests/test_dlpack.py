"""DLPack exchange: every array tokenlink hands between PyTorch and NumPy /
h5py is a view on CPU, except the documented copies. Shared memory is proved
twice: by data pointers, and by writing on one side and reading on the other."""

import h5py
import numpy as np
import pytest
import torch
from tokenlink.bridge.dlpack import from_numpy, prepare_for_export, shares_memory, to_numpy
from tokenlink.bridge.layer import Realization

#: The exchanges of the product, with their shapes and dtypes (docs/conventions.md).
EXCHANGES = {
    "tokens float32 [batch, num_tokens, dim]": lambda: torch.randn(4, 16, 32),
    "symbols complex64 [batch, n]": lambda: torch.randn(4, 912, dtype=torch.complex64),
    "h_freq complex64 [batch,1,1,1,1,S,F]": lambda: torch.randn(2, 1, 1, 1, 1, 14, 76, dtype=torch.complex64),
    "llr float32 [batch, n_bits]": lambda: torch.randn(4, 3648),
    "tokens float64": lambda: torch.randn(3, 5, 8, dtype=torch.float64),
    "symbols complex128": lambda: torch.randn(3, 5, dtype=torch.complex128),
    "bits int64": lambda: torch.randint(0, 2, (4, 10)),
    "mask bool": lambda: torch.rand(4, 10) > 0.5,
    "scalar 0-d": lambda: torch.tensor(1.5),
}

NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64, torch.complex64: np.complex64,
            torch.complex128: np.complex128, torch.int64: np.int64, torch.bool: np.bool_}


def poke(x):
    """Write a new value (different from the old one) into the first element of
    ``x`` (tensor or array) in place; return it for reading on the other side."""
    index = (0,) * x.ndim
    new = (not bool(x[index])) if x.dtype in (torch.bool, np.bool_) else x[index] + 1
    x[index] = new
    return new


def first(x):
    return x[(0,) * x.ndim].item()


def writes_show_through(src, dst):
    """Write into ``src``; whether ``dst`` reads the new value."""
    new = poke(src)
    return bool(first(dst) == new)


@pytest.mark.parametrize("name", EXCHANGES)
def test_torch_to_numpy_is_a_view_with_same_dtype_and_shape(name):
    t = EXCHANGES[name]()
    a = to_numpy(t)
    assert shares_memory(t, a) and np.shares_memory(a, t.numpy())
    assert a.dtype == NP_DTYPE[t.dtype] and a.shape == tuple(t.shape)
    assert writes_show_through(a, t)  # written through numpy, read in torch


@pytest.mark.parametrize("name", EXCHANGES)
def test_numpy_to_torch_is_a_view_with_same_dtype_and_shape(name):
    a = EXCHANGES[name]().numpy().copy()  # an array NumPy owns
    t = from_numpy(a)
    assert shares_memory(a, t) and np.shares_memory(a, t.numpy())
    assert NP_DTYPE[t.dtype] == a.dtype and tuple(t.shape) == a.shape
    assert writes_show_through(t, a)  # written in torch, read through numpy


@pytest.mark.parametrize("name", EXCHANGES)
def test_round_trip_returns_the_same_memory_dtype_and_shape(name):
    t = EXCHANGES[name]()
    back = from_numpy(to_numpy(t))
    assert shares_memory(t, back) and back.dtype == t.dtype and back.shape == t.shape
    assert torch.equal(back, t)


def test_tensor_that_requires_grad_is_exported_without_a_copy():
    t = torch.randn(3, 4, requires_grad=True)
    prepared, copied = prepare_for_export(t)
    assert not copied and not prepared.requires_grad and shares_memory(t, prepared)
    a = to_numpy(t)
    assert shares_memory(t, a)
    assert writes_show_through(a, t)


@pytest.mark.parametrize(
    "view",
    [
        lambda t: t.T, lambda t: t[:, ::3], lambda t: t[1:, 2:],
        lambda t: t.view(2, 3, 12).permute(2, 0, 1),
    ],
    ids=["transposed", "step-sliced", "offset", "permuted"],
)
def test_strided_tensor_is_exported_as_a_strided_view_without_a_copy(view):
    t = view(torch.randn(6, 12))
    assert not t.is_contiguous() or t.storage_offset() > 0
    assert not prepare_for_export(t)[1]
    a = to_numpy(t)
    assert shares_memory(t, a) and np.array_equal(a, t.numpy())
    assert a.strides == tuple(s * t.element_size() for s in t.stride())
    assert writes_show_through(a, t)


@pytest.mark.parametrize(
    "view", [lambda a: a.T, lambda a: a[:, ::3], np.asfortranarray], ids=["transposed", "step-sliced", "fortran"]
)
def test_strided_array_is_imported_as_a_strided_view_without_a_copy(view):
    a = view(np.random.default_rng(0).standard_normal((6, 12)).astype(np.float32))
    t = from_numpy(a)
    assert shares_memory(a, t) and np.array_equal(t.numpy(), a)
    assert writes_show_through(t, a)


def test_conjugate_view_is_copied_and_holds_the_conjugate():
    x = torch.randn(5, dtype=torch.complex64)
    c = x.conj()
    assert c.is_conj()
    prepared, copied = prepare_for_export(c)
    assert copied and not prepared.is_conj() and not shares_memory(x, prepared)
    a = to_numpy(c)
    assert not np.shares_memory(a, x.numpy())
    assert np.array_equal(a, x.numpy().conj())
    before = x.clone()
    poke(a)
    assert torch.equal(x, before)  # a copy: writing it leaves x alone


def test_negative_view_is_copied_and_keeps_its_sign():
    x = torch.randn(5, dtype=torch.complex64)
    neg = x.conj().imag  # a negative view of x's imaginary part
    assert neg.is_neg()
    _, copied = prepare_for_export(neg)
    a = to_numpy(neg)
    assert copied and not np.shares_memory(a, x.numpy())
    assert np.array_equal(a, -x.numpy().imag)


def test_read_only_array_is_copied_not_aliased():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = from_numpy(a)
    assert not shares_memory(a, t) and not np.shares_memory(a, t.numpy())
    t[0] = 7.0
    assert a[0] == 0.0 and t.dtype == torch.float64


def test_negative_stride_array_is_copied_instead_of_crashing_torch():
    a = np.arange(5.0, dtype=np.float32)[::-1]  # torch.from_dlpack would abort the process
    t = from_numpy(a)
    assert np.array_equal(t.numpy(), a) and not np.shares_memory(a, t.numpy())


def test_non_native_byte_order_array_is_copied_to_native_order():
    a = np.arange(3.0).astype(">f4" if np.little_endian else "<f4")
    t = from_numpy(a)
    assert t.dtype == torch.float32 and np.array_equal(t.numpy(), a)


def test_view_as_real_gives_float_pairs_without_a_copy():
    x = torch.randn(3, 4, dtype=torch.complex64)
    pairs = to_numpy(torch.view_as_real(x))
    assert pairs.shape == (3, 4, 2) and pairs.dtype == np.float32 and shares_memory(x, pairs)
    pairs[0, 0] = (5.0, -6.0)
    assert x[0, 0] == complex(5.0, -6.0)


def test_realization_to_numpy_gives_views_of_every_field():
    r = Realization(
        h_freq=torch.randn(2, 3, 14, 76, dtype=torch.complex64),
        no=torch.rand(2), snr_db=torch.randn(2), no_eff=torch.rand(2, 100),
    )
    arrays = r.to_numpy()
    assert set(arrays) == set(r._fields)
    for k, v in arrays.items():
        t = getattr(r, k)
        assert shares_memory(t, v) and v.shape == tuple(t.shape)
        assert writes_show_through(v, t)


def test_zero_copy_views_write_to_and_read_back_from_hdf5(tmp_path):
    h = torch.randn(2, 1, 1, 1, 1, 14, 76, dtype=torch.complex64)
    tokens = torch.randn(2, 16, 32)
    llr = torch.randn(2, 3648)
    path = tmp_path / "trace.h5"
    with h5py.File(path, "w") as f:
        for name, t in {"h_freq": h, "tokens": tokens, "llr": llr}.items():
            a = to_numpy(t)
            assert shares_memory(t, a)
            f.create_dataset(name, data=a, compression="gzip")
    with h5py.File(path, "r") as f:
        for name, t in {"h_freq": h, "tokens": tokens, "llr": llr}.items():
            back = from_numpy(f[name][...])
            assert back.dtype == t.dtype and torch.equal(back, t)


def test_shares_memory_compares_start_pointers_of_tensors_and_arrays():
    t = torch.arange(6.0)
    a = t.numpy()
    assert shares_memory(t, a) and shares_memory(a, t) and shares_memory(t, t.view(2, 3))
    assert not shares_memory(t, t[1:]) and not shares_memory(a, a.copy())


def test_shares_memory_rejects_other_types():
    with pytest.raises(TypeError, match="torch tensors or numpy arrays"):
        shares_memory([1, 2], np.zeros(2))


def test_tensorflow_exchange_is_zero_copy():
    tf = pytest.importorskip("tensorflow")  # cannot be installed next to Sionna 2.x: skipped in CI
    from tokenlink.bridge.dlpack import from_tensorflow, to_tensorflow

    t = torch.randn(4, 8)
    x = to_tensorflow(t)
    assert isinstance(x, tf.Tensor) and np.array_equal(x.numpy(), t.numpy())
    back = from_tensorflow(x)
    assert shares_memory(t, back) and back.dtype == t.dtype and back.shape == t.shape
    assert writes_show_through(back, t)


def test_tensorflow_gets_a_contiguous_copy_of_a_strided_tensor():
    pytest.importorskip("tensorflow")
    from tokenlink.bridge.dlpack import from_tensorflow, to_tensorflow

    t = torch.randn(4, 8).T
    x = to_tensorflow(t)
    assert np.array_equal(x.numpy(), t.numpy()) and not shares_memory(t, from_tensorflow(x))


@pytest.mark.parametrize("fn", ["to_tensorflow", "from_tensorflow"])
def test_tensorflow_functions_explain_why_tensorflow_is_missing(fn):
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        import tokenlink.bridge.dlpack as dlpack

        claim = f"^{fn} needs TensorFlow, which cannot share an environment with Sionna 2.x"
        with pytest.raises(ImportError, match=claim):
            getattr(dlpack, fn)(torch.zeros(2))
    else:
        pytest.skip("TensorFlow is installed")
