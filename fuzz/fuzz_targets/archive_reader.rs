//! The archive reader of `-a import` and `-a spull`: any bytes give an
//! error or a layer, and nothing is ever written outside the layer
//! directory (absolute paths, `..`, links out, hostile headers).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdocker::image::archive::import;
use xdocker::progress::NoProgress;

fuzz_target!(|data: &[u8]| {
    let base = tempfile::tempdir().expect("tempdir");
    let layer = base.path().join("layer");
    std::fs::create_dir(&layer).expect("mkdir");
    let _ = import(data, &layer, true, &NoProgress);
    let names: Vec<_> = std::fs::read_dir(base.path())
        .expect("read base")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["layer"], "something was written next to the layer");
});
