//! Drafts: a received record plus the metadata the chain stores about it, by the rules of
//! `services.audit.sealing` (whose Python `draft_of` is the reference the tests compare with).
//!
//! Dedup key = the first 16 bytes of SHA-256 over `topic|ce_id`; on the DLQ also `|` and each of the
//! DLQ headers (consumer, topic, partition, offset; empty when missing); for a record without `ce_id`
//! `topic|partition|offset`, whose full hex digest is then also the event id. Headers count by their
//! first occurrence; header text is decoded as UTF-8 with replacement. Event time = `ce_time` when
//! usable, else the broker's timestamp.

use pyo3::basic::CompareOp;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySet, PyString};
use sha2::{Digest, Sha256};

use crate::bytes::{decode_lossy, hex, pair_items};
use crate::time::common_event_us;

pub const DEDUP_KEY_BYTES: usize = 16;
const CE_ID: usize = 0;
const CE_TIME: usize = 1;
const CE_TYPE: usize = 2;
const CE_SUBJECT: usize = 3;
const FIXED: [&str; 4] = ["ce_id", "ce_time", "ce_type", "ce_subject"];

/// `services.audit.sealing.Draft`: the record and its dedup key, event id, type, subject, event time
/// (RFC 3339 text) and event time in microseconds since the epoch.
#[pyclass(frozen, module = "segflow_native")]
pub struct Draft {
    #[pyo3(get)]
    pub record: Py<PyAny>,
    #[pyo3(get)]
    pub dedup_key: Py<PyAny>,
    #[pyo3(get)]
    pub event_id: Py<PyAny>,
    #[pyo3(get, name = "type")]
    pub type_: Py<PyAny>,
    #[pyo3(get)]
    pub subject: Py<PyAny>,
    #[pyo3(get)]
    pub event_time: Py<PyAny>,
    #[pyo3(get)]
    pub event_us: Py<PyAny>,
}

impl Draft {
    fn fields(&self) -> [&Py<PyAny>; 7] {
        [
            &self.record,
            &self.dedup_key,
            &self.event_id,
            &self.type_,
            &self.subject,
            &self.event_time,
            &self.event_us,
        ]
    }
}

#[pymethods]
impl Draft {
    #[new]
    #[pyo3(signature = (record, dedup_key, event_id, r#type, subject, event_time, event_us))]
    fn new(
        record: Py<PyAny>,
        dedup_key: Py<PyAny>,
        event_id: Py<PyAny>,
        r#type: Py<PyAny>,
        subject: Py<PyAny>,
        event_time: Py<PyAny>,
        event_us: Py<PyAny>,
    ) -> Self {
        Draft {
            record,
            dedup_key,
            event_id,
            type_: r#type,
            subject,
            event_time,
            event_us,
        }
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<Draft>() else {
            return Ok(py.NotImplemented());
        };
        let mut equal = true;
        for (mine, theirs) in self.fields().into_iter().zip(other.get().fields()) {
            if !mine.bind(py).eq(theirs.bind(py))? {
                equal = false;
                break;
            }
        }
        Ok(match op {
            CompareOp::Eq => equal.into_pyobject(py)?.to_owned().into_any().unbind(),
            CompareOp::Ne => (!equal).into_pyobject(py)?.to_owned().into_any().unbind(),
            _ => py.NotImplemented(),
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let names = [
            "record",
            "dedup_key",
            "event_id",
            "type",
            "subject",
            "event_time",
            "event_us",
        ];
        let parts = names
            .iter()
            .zip(self.fields())
            .map(|(name, value)| Ok(format!("{name}={}", value.bind(py).repr()?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("Draft({})", parts.join(", ")))
    }
}

/// The first occurrence of each wanted header's value (`dict(reversed(headers))` semantics).
fn first_headers<'py>(
    headers: &Bound<'py, PyAny>,
    wanted: &[&str],
) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
    let mut found: Vec<Option<Bound<'py, PyAny>>> = vec![None; wanted.len()];
    for pair in headers.try_iter()? {
        let pair = pair?;
        let (name, value) = pair_items(&pair)?;
        let Ok(name) = name.cast::<PyString>() else {
            continue;
        };
        let Ok(name) = name.to_str() else { continue };
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            if found[i].is_none() {
                found[i] = Some(value);
            }
        }
    }
    Ok(found)
}

/// Present and not empty (Python truthiness of a bytes value).
fn non_empty<'a, 'py>(
    value: &'a Option<Bound<'py, PyAny>>,
) -> PyResult<Option<&'a Bound<'py, PyAny>>> {
    match value {
        Some(v) if v.len()? > 0 => Ok(Some(v)),
        _ => Ok(None),
    }
}

/// `topic.encode("utf-8", errors="replace")` of a topic holding lone surrogates (each becomes `?`).
fn replaced_utf8(topic: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    topic
        .call_method1(intern!(topic.py(), "encode"), ("utf-8", "replace"))?
        .extract()
}

/// Drafts of `records`, each dedup key kept once (its first occurrence; `seen` holds the keys of earlier
/// chunks of the same batch and is updated). `usable_event_us(text)` answers the event time of a
/// `ce_time` outside the common shape (None when unusable); `broker_time(us)` formats the broker's
/// timestamp as RFC 3339 text.
#[pyfunction]
pub fn draft_batch<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    seen: &Bound<'py, PySet>,
    dlq_topic: &str,
    dlq_headers: Vec<String>,
    usable_event_us: &Bound<'py, PyAny>,
    broker_time: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let wanted: Vec<&str> = FIXED
        .iter()
        .copied()
        .chain(dlq_headers.iter().map(String::as_str))
        .collect();
    let out = PyList::empty(py);
    for rec in records.try_iter()? {
        let rec = rec?;
        let topic = rec.getattr(intern!(py, "topic"))?;
        let topic_str = topic.cast::<PyString>()?;
        let topic_text = topic_str.to_str().ok(); // None: lone surrogates
        let headers = first_headers(&rec.getattr(intern!(py, "headers"))?, &wanted)?;
        let (digest, event_id) = match non_empty(&headers[CE_ID])? {
            Some(raw_id) => {
                let ce_id = decode_lossy(py, raw_id)?;
                let mut text = match topic_text {
                    Some(t) => t.as_bytes().to_vec(),
                    None => replaced_utf8(topic_str)?,
                };
                text.push(b'|');
                text.extend_from_slice(ce_id.to_str()?.as_bytes());
                if topic_text == Some(dlq_topic) {
                    for value in &headers[FIXED.len()..] {
                        text.push(b'|');
                        if let Some(v) = value {
                            text.extend_from_slice(decode_lossy(py, v)?.to_str()?.as_bytes());
                        }
                    }
                }
                (Sha256::digest(&text), ce_id.into_any())
            }
            None => {
                let partition: i64 = rec.getattr(intern!(py, "partition"))?.extract()?;
                let offset: i64 = rec.getattr(intern!(py, "offset"))?.extract()?;
                let text = format!("{}|{partition}|{offset}", topic_str.to_str()?);
                let digest = Sha256::digest(text.as_bytes());
                (digest, PyString::new(py, &hex(&digest)).into_any())
            }
        };
        let key = PyBytes::new(py, &digest[..DEDUP_KEY_BYTES]);
        if seen.contains(&key)? {
            continue;
        }
        seen.add(&key)?;
        let mut when: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = None;
        if let Some(raw_time) = non_empty(&headers[CE_TIME])? {
            let ce_time = decode_lossy(py, raw_time)?;
            let us = match common_event_us(ce_time.to_str()?) {
                Some(us) => Some(us.into_pyobject(py)?.into_any()),
                None => Some(usable_event_us.call1((&ce_time,))?).filter(|us| !us.is_none()),
            };
            when = us.map(|us| (ce_time.into_any(), us));
        }
        let (event_time, event_us) = match when {
            Some(pair) => pair,
            None => {
                let us = rec.getattr(intern!(py, "timestamp_ms"))?.mul(1000)?;
                (broker_time.call1((&us,))?, us)
            }
        };
        let text_of = |value: &Option<Bound<'py, PyAny>>| -> PyResult<Bound<'py, PyAny>> {
            match value {
                Some(v) => Ok(decode_lossy(py, v)?.into_any()),
                None => Ok(py.None().into_bound(py)),
            }
        };
        let draft = Draft {
            record: rec.clone().unbind(),
            dedup_key: key.into_any().unbind(),
            event_id: event_id.unbind(),
            type_: text_of(&headers[CE_TYPE])?.unbind(),
            subject: text_of(&headers[CE_SUBJECT])?.unbind(),
            event_time: event_time.unbind(),
            event_us: event_us.unbind(),
        };
        out.append(Bound::new(py, draft)?)?;
    }
    Ok(out)
}
