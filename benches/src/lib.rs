//! Benchmarks of the CMS/signature core.
