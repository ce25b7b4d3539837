//! RTCP placeholder
