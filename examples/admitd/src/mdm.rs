//! Apple MDM in `admitd`. So far only the offline side: `admitd inspect` on MDM plists.

pub mod inspect;
