//! Filesystem helpers shared by the image store and the container runtime.
pub mod atomic;
pub mod copy;
pub mod fsids;
pub mod inroot;
pub mod sparse;
pub mod tree;

/// An error text as it reads inside a sentence: "Invalid argument" ->
/// "invalid argument".
pub fn lower_first(text: &str) -> String {
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}
