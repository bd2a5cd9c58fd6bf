//! The rplfile mapping file and template engine (the mapping comes from
//! the host, the template from inside a container): any bytes give rules
//! or an error; instantiating never panics and only inserts values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdocker::template::{instantiate, parse_mapping};

fuzz_target!(|data: &[u8]| {
    // mapping \0 template
    let (mapping, template) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    if let Ok(rules) = parse_mapping(mapping) {
        let out = instantiate(template, &rules);
        if rules.is_empty() {
            assert_eq!(out, template);
        }
    }
});
