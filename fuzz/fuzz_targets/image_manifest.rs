//! The manifest at the head of an `.xdockerimage` (from a file or an ssh
//! repository): any bytes give a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdocker::image::archive::read_manifest;

fuzz_target!(|data: &[u8]| {
    let _ = read_manifest(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = toml::from_str::<xdocker::image::archive::ArchiveManifest>(text);
    }
});
