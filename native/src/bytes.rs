//! Reading Python bytes-like objects and writing hex, shared by drafting and sealing.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Call `f` with the bytes of a bytes-like object (bytes without a copy; bytearray and others copied).
pub fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    let owned: Vec<u8> = obj.extract()?;
    Ok(f(&owned))
}

/// `raw.decode("utf-8", errors="replace")`: each maximal invalid subsequence becomes U+FFFD.
pub fn decode_lossy<'py>(
    py: Python<'py>,
    raw: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyString>> {
    with_bytes(raw, |b| PyString::new(py, &String::from_utf8_lossy(b)))
}

/// Lowercase hex of `raw`.
pub fn hex(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// The two items of a header pair: a tuple read directly, any other sequence by indexing.
pub fn pair_items<'py>(
    pair: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(t) = pair.cast::<PyTuple>() {
        if t.len() == 2 {
            return Ok((t.get_item(0)?, t.get_item(1)?));
        }
    }
    Ok((pair.get_item(0)?, pair.get_item(1)?))
}
