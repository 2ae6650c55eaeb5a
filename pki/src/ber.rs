//! BER-to-DER intake.
