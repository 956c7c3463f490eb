"""DLPack exchange: every array tokenlink hands to NumPy / h5py is a view on
CPU, except the documented copies (conjugate and negative views)."""

import h5py
import numpy as np
import pytest
import torch
from tokenlink.bridge.dlpack import from_numpy, prepare_for_export, shares_memory, to_numpy

EXCHANGES = {
    "tokens [batch, num_tokens, dim]": lambda: torch.randn(4, 16, 32),
    "symbols [batch, n]": lambda: torch.randn(4, 912, dtype=torch.complex64),
    "h_freq [batch,1,1,1,1,S,F]": lambda: torch.randn(2, 1, 1, 1, 1, 14, 76, dtype=torch.complex64),
    "llr [batch, n_bits]": lambda: torch.randn(4, 3648),
    "bits int64": lambda: torch.randint(0, 2, (4, 10)),
    "mask bool": lambda: torch.rand(4, 10) > 0.5,
    "tokens float64": lambda: torch.randn(3, 5, dtype=torch.float64),
    "complex128": lambda: torch.randn(3, 5, dtype=torch.complex128),
}


@pytest.mark.parametrize("name", EXCHANGES)
def test_torch_to_numpy_is_a_view_and_writes_show_through(name):
    t = EXCHANGES[name]()
    a = to_numpy(t)
    assert shares_memory(t, a) and a.shape == tuple(t.shape)
    assert a.dtype == torch.empty(0, dtype=t.dtype).numpy().dtype
    a.reshape(-1)[0] = a.reshape(-1)[1]
    assert t.reshape(-1)[0] == t.reshape(-1)[1]


@pytest.mark.parametrize("name", EXCHANGES)
def test_numpy_to_torch_is_a_view_and_round_trips(name):
    a = to_numpy(EXCHANGES[name]()).copy()
    t = from_numpy(a)
    assert shares_memory(a, t) and np.shares_memory(a, to_numpy(t))
    assert t.dtype == EXCHANGES[name]().dtype and tuple(t.shape) == a.shape
    t.reshape(-1)[0] = t.reshape(-1)[1]
    assert a.reshape(-1)[0] == a.reshape(-1)[1]


def test_tensor_that_requires_grad_is_exported_without_a_copy():
    t = torch.randn(3, 4, requires_grad=True)
    prepared, copied = prepare_for_export(t)
    assert not copied and shares_memory(t, to_numpy(t))


@pytest.mark.parametrize("view", [lambda t: t.T, lambda t: t[:, ::3], lambda t: t[1:, 2:]])
def test_strided_views_are_exported_without_a_copy(view):
    base = torch.randn(6, 12)
    t = view(base)
    a = to_numpy(t)
    assert shares_memory(t, a) and np.array_equal(a, t.numpy())
    assert a.strides == tuple(s * 4 for s in t.stride())


def test_conjugate_view_is_copied_and_holds_the_conjugate():
    x = torch.randn(5, dtype=torch.complex64)
    c = x.conj()
    _, copied = prepare_for_export(c)
    a = to_numpy(c)
    assert copied and not shares_memory(x, a)
    assert np.array_equal(a, x.numpy().conj())


def test_negative_view_is_copied():
    x = torch.randn(5, dtype=torch.complex64)
    neg = x.conj().imag  # a negative view of x's imaginary part
    _, copied = prepare_for_export(neg)
    assert copied and np.array_equal(to_numpy(neg), -x.numpy().imag)


def test_read_only_array_is_copied_not_aliased():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = from_numpy(a)
    assert not shares_memory(a, t) and np.array_equal(t.numpy(), a)


def test_view_as_real_gives_float_pairs_without_a_copy():
    x = torch.randn(3, 4, dtype=torch.complex64)
    pairs = to_numpy(torch.view_as_real(x))
    assert pairs.shape == (3, 4, 2) and shares_memory(x, pairs)


def test_zero_copy_views_write_to_and_read_back_from_hdf5(tmp_path):
    h = torch.randn(2, 1, 1, 1, 1, 14, 76, dtype=torch.complex64)
    llr = torch.randn(2, 3648)
    path = tmp_path / "trace.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("h_freq", data=to_numpy(h), compression="gzip")
        f.create_dataset("llr", data=to_numpy(llr))
    with h5py.File(path, "r") as f:
        assert torch.equal(from_numpy(f["h_freq"][...]), h)
        assert torch.equal(from_numpy(f["llr"][...]), llr)


def test_shares_memory_rejects_other_types():
    with pytest.raises(TypeError, match="torch tensors or numpy arrays"):
        shares_memory([1, 2], np.zeros(2))


def test_tensorflow_exchange_is_zero_copy():
    tf = pytest.importorskip("tensorflow")  # cannot be installed next to Sionna 2.x: skipped in CI
    from tokenlink.bridge.dlpack import from_tensorflow, to_tensorflow

    t = torch.randn(4, 8)
    x = to_tensorflow(t)
    back = from_tensorflow(x)
    assert shares_memory(t, back) and np.array_equal(x.numpy(), t.numpy())
    assert isinstance(x, tf.Tensor)


def test_tensorflow_functions_explain_why_tensorflow_is_missing():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        from tokenlink.bridge.dlpack import to_tensorflow

        with pytest.raises(ImportError, match="cannot share an environment with Sionna 2.x"):
            to_tensorflow(torch.zeros(2))
    else:
        pytest.skip("TensorFlow is installed")
