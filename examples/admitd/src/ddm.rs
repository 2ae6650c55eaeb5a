//! Declarative Device Management in `admitd`. So far only the offline side: `admitd inspect` on
//! DDM JSON bodies.

pub mod inspect;
