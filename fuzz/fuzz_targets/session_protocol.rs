//! The session protocol decoder (what xdockerinit reads from a client and
//! the client from it): any bytes, in any split, give messages or an
//! error, never a panic or unbounded buffering; a message that decodes
//! encodes back to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdockerinit::protocol::Decoder;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the stream is split, as reads would.
    let (split, bytes) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s) % (rest.len() + 1), rest),
        None => return,
    };
    let mut decoder = Decoder::new();
    for chunk in [&bytes[..split], &bytes[split..]] {
        decoder.push(chunk);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    let frame = message.to_frame();
                    let mut again = Decoder::new();
                    again.push(&frame);
                    let back = again.next_message().expect("re-decode").expect("a message");
                    assert_eq!(format!("{back:?}"), format!("{message:?}"));
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.pending() <= bytes.len());
    }
    let _ = decoder.finish();
});
