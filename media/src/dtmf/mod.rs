//! DTMF: RFC 4733 telephone-events, in-band Goertzel detection and SIP INFO bodies.
