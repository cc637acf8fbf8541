//! `seal_batch`: drafts -> chain entries, the rules of `services.audit.sealing.seal_drafts`.
//!
//! For entry `seq` with previous hash `prev`: `entry_hash = SHA-256(prev || JCS(metadata))`, where the
//! metadata object is written with its keys in RFC 8785 order
//! `{event_id, event_time, headers, key, offset, partition, payload_sha256, seq, subject, topic, type}`,
//! `headers` = `[[name, base64(value)], ...]` in received order, `key` = base64 of the key bytes (or null),
//! `payload_sha256` = hex SHA-256 of the stored bytes (null for a tombstone). Each entry hash is then
//! appended to the Merkle frontier. Rows come back in `services.audit.store.ENTRY_COLUMNS` order.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use sha2::{Digest, Sha256};

use crate::bytes::{hex, pair_items, with_bytes};
use crate::draft::Draft;
use crate::json::{push_int, push_opt_str, push_str};
use crate::merkle::{Frontier, Hash};

/// The text of a str-or-None field.
fn text<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Option<&'a str>> {
    if obj.is_none() {
        return Ok(None);
    }
    Ok(Some(obj.cast::<PyString>()?.to_str()?))
}

fn to_hash(raw: &[u8], what: &str) -> PyResult<Hash> {
    raw.try_into()
        .map_err(|_| PyValueError::new_err(format!("{what} must be 32 bytes, got {}", raw.len())))
}

/// The `headers` column and canonical piece: `[["<name>","<base64 value>"],...]`.
fn headers_json(headers: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    out.push(b'[');
    for (i, pair) in headers.try_iter()?.enumerate() {
        let pair = pair?;
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        let (name, value) = pair_items(&pair)?;
        push_str(out, name.cast::<PyString>()?.to_str()?);
        out.extend_from_slice(b",\"");
        with_bytes(&value, |value| {
            let start = out.len();
            out.resize(start + value.len().div_ceil(3) * 4, 0);
            let written = BASE64
                .encode_slice(value, &mut out[start..])
                .expect("sized for padded base64");
            out.truncate(start + written);
        })?;
        out.extend_from_slice(b"\"]");
    }
    out.push(b']');
    Ok(())
}

/// Seal `drafts` (`Draft`s) storing `payloads` as entries `size, size + 1, ...` after `prev_hash`, on top
/// of the Merkle `frontier` (the roots of a tree of `size` leaves).
///
/// Returns `(rows, frontier_after, subtrees)`: the COPY rows, the frontier's roots after the batch and
/// the `(level, index, root)` of each perfect subtree of at least `2^subtree_min_level` leaves completed.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn seal_batch<'py>(
    py: Python<'py>,
    prev_hash: &[u8],
    size: u64,
    frontier: Vec<Vec<u8>>,
    drafts: &Bound<'py, PyAny>,
    payloads: &Bound<'py, PyAny>,
    captured_us: i64,
    subtree_min_level: u32,
) -> PyResult<(
    Bound<'py, PyList>,
    Vec<Bound<'py, PyBytes>>,
    Vec<(u32, u64, Bound<'py, PyBytes>)>,
)> {
    let mut prev = to_hash(prev_hash, "prev_hash")?;
    let roots = frontier
        .iter()
        .map(|h| to_hash(h, "a frontier hash"))
        .collect::<PyResult<Vec<_>>>()?;
    let mut tree = Frontier::new(size, roots, subtree_min_level).map_err(PyValueError::new_err)?;
    let rows = PyList::empty(py);
    let mut canonical: Vec<u8> = Vec::with_capacity(1024);
    let mut headers: Vec<u8> = Vec::with_capacity(512);
    let mut payload_iter = payloads.try_iter()?;
    for (seq, draft) in (size..).zip(drafts.try_iter()?) {
        let draft = draft?;
        let draft = draft.cast::<Draft>()?.get();
        let payload = payload_iter
            .next()
            .ok_or_else(|| PyValueError::new_err("fewer payloads than drafts"))??;
        let rec = draft.record.bind(py);
        let topic = rec.getattr(intern!(py, "topic"))?;
        let partition = rec.getattr(intern!(py, "partition"))?;
        let offset = rec.getattr(intern!(py, "offset"))?;
        let key = rec.getattr(intern!(py, "key"))?;
        let key_b64 = if key.is_none() {
            None
        } else {
            Some(with_bytes(&key, |k| BASE64.encode(k))?)
        };
        headers.clear();
        headers_json(&rec.getattr(intern!(py, "headers"))?, &mut headers)?;
        let (type_, subject) = (draft.type_.bind(py), draft.subject.bind(py));
        let (event_time, event_id) = (draft.event_time.bind(py), draft.event_id.bind(py));
        let digest = if payload.is_none() {
            None
        } else {
            Some(with_bytes(&payload, |p| hex(&Sha256::digest(p)))?)
        };

        canonical.clear();
        canonical.extend_from_slice(b"{\"event_id\":");
        push_opt_str(&mut canonical, text(event_id)?);
        canonical.extend_from_slice(b",\"event_time\":");
        push_opt_str(&mut canonical, text(event_time)?);
        canonical.extend_from_slice(b",\"headers\":");
        canonical.extend_from_slice(&headers);
        canonical.extend_from_slice(b",\"key\":");
        push_opt_str(&mut canonical, key_b64.as_deref()); // base64 never needs escaping
        canonical.extend_from_slice(b",\"offset\":");
        push_int(&mut canonical, offset.extract::<i64>()?);
        canonical.extend_from_slice(b",\"partition\":");
        push_int(&mut canonical, partition.extract::<i64>()?);
        canonical.extend_from_slice(b",\"payload_sha256\":");
        push_opt_str(&mut canonical, digest.as_deref());
        canonical.extend_from_slice(b",\"seq\":");
        push_int(&mut canonical, seq as i64);
        canonical.extend_from_slice(b",\"subject\":");
        push_opt_str(&mut canonical, text(subject)?);
        canonical.extend_from_slice(b",\"topic\":");
        push_str(&mut canonical, topic.cast::<PyString>()?.to_str()?);
        canonical.extend_from_slice(b",\"type\":");
        push_opt_str(&mut canonical, text(type_)?);
        canonical.push(b'}');

        prev = Sha256::new()
            .chain_update(prev)
            .chain_update(&canonical)
            .finalize()
            .into();
        tree.append(&prev);
        let headers_text = std::str::from_utf8(&headers).expect("built from str and base64");
        let row = PyTuple::new(
            py,
            [
                seq.into_pyobject(py)?.into_any(),
                topic,
                partition,
                offset,
                key_b64.into_pyobject(py)?.into_any(),
                PyString::new(py, headers_text).into_any(),
                type_.clone(),
                subject.clone(),
                event_time.clone(),
                event_id.clone(),
                digest.into_pyobject(py)?.into_any(),
                payload,
                PyBytes::new(py, &prev).into_any(),
                draft.dedup_key.bind(py).clone(),
                draft.event_us.bind(py).clone(),
                captured_us.into_pyobject(py)?.into_any(),
            ],
        )?;
        rows.append(row)?;
    }
    if payload_iter.next().is_some() {
        return Err(PyValueError::new_err("more payloads than drafts"));
    }
    let frontier_after = tree.hashes.iter().map(|h| PyBytes::new(py, h)).collect();
    let subtrees = tree
        .completed
        .iter()
        .map(|(lv, idx, root)| (*lv, *idx, PyBytes::new(py, root)))
        .collect();
    Ok((rows, frontier_after, subtrees))
}
