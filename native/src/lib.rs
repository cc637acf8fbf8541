//! segflow's compiled hot loops, called from Python (PyO3).
//!
//! The audit capture writer's per-record work: `draft_batch` (dedup keys, event ids and times of the
//! received records) and `seal_batch` (the RFC 8785 canonical metadata of each entry, the SHA-256 hash
//! chain and the RFC 9162 Merkle frontier). The rules are defined in Python by `services.audit.sealing`
//! and `services.audit.domain` (chain, frontier); this crate computes the same values faster, and the
//! test suite proves equality against those definitions and an independent RFC 8785 chain.

mod bytes;
mod draft;
mod json;
mod merkle;
mod seal;
mod time;

use pyo3::prelude::*;

#[pymodule]
fn segflow_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<draft::Draft>()?;
    m.add_function(wrap_pyfunction!(draft::draft_batch, m)?)?;
    m.add_function(wrap_pyfunction!(seal::seal_batch, m)?)?;
    m.add("DEDUP_KEY_BYTES", draft::DEDUP_KEY_BYTES)?;
    Ok(())
}
