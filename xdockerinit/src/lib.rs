//! xdockerinit: the init process of every xdocker container, and the session
//! protocol it speaks, shared with the `xdocker` CLI as a library.

/// Version of xdockerinit, the same as the workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
