//! SIP (RFC 3261): messages, parsing and stream framing, typed headers, transactions, dialogs,
//! the user-agent core and digest authentication.
//!
//! Folders follow the RFC's layers: syntax ([`message`], [`parse`], [`uri`], [`headers`],
//! [`framing`]), then [`transaction`], then [`dialog`], with [`endpoint`] as the transaction user
//! that the async shell drives.

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod framing;
pub mod headers;
pub mod message;
pub mod parse;
pub mod transaction;
pub mod uri;

#[cfg(test)]
mod proptests;

pub use dialog::{Dialog, DialogInfo};
pub use endpoint::{
    CallKey, Endpoint, EndpointConfig, EndpointStats, Event, InviteParams, Output, Peer,
    RegisterParams, RegistrationId, ServerTxnKey, Termination, Transmit, Transport,
};
pub use headers::{CSeq, NameAddr, Via};
pub use message::{Header, HeaderName, Headers, Message, Method, Request, Response};
pub use parse::{parse_datagram, parse_message, ParseError, Parsed};
pub use transaction::Timers;
pub use uri::Uri;
