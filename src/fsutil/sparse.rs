//! Copying a file's data and only its data: the holes of a sparse file
//! stay holes (SEEK_DATA / SEEK_HOLE), so a 2 GB file with 4 kB written
//! costs 4 kB on either side. A file system without SEEK_DATA is copied
//! whole.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::unistd::{lseek, Whence};

/// Copies `from` (from its start) into the empty file `to`; returns the
/// length copied (holes included).
pub fn copy(from: &mut File, to: &mut File) -> io::Result<u64> {
    let len = from.metadata()?.len();
    let fd = from.as_raw_fd();
    let mut pos: i64 = 0;
    let end = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    while pos < end {
        let data = match lseek(fd, pos, Whence::SeekData) {
            Ok(data) => data,
            // No data after pos: the rest is a hole.
            Err(Errno::ENXIO) => break,
            // No SEEK_DATA here: everything, the plain way.
            Err(Errno::EINVAL) if pos == 0 => return whole(from, to),
            Err(e) => return Err(e.into()),
        };
        let hole = lseek(fd, data, Whence::SeekHole)?;
        copy_range(from, to, data, hole)?;
        pos = hole;
    }
    to.set_len(len)?;
    Ok(len)
}

/// Copies the bytes [start, end) at the same offsets.
fn copy_range(from: &File, to: &File, start: i64, end: i64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = u64::try_from(start).unwrap_or(0);
    let end = u64::try_from(end).unwrap_or(0);
    while at < end {
        let want = usize::try_from((end - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = from.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break; // the file shrank meanwhile
        }
        to.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

fn whole(from: &mut File, to: &mut File) -> io::Result<u64> {
    use std::io::Seek;
    from.seek(io::SeekFrom::Start(0))?;
    io::copy(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn holes_stay_holes_and_data_stays_data() {
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let mut src = File::create(&a).expect("create");
        src.write_all(b"head").expect("write");
        src.seek(SeekFrom::Start(1 << 30)).expect("seek");
        src.write_all(b"tail").expect("write");
        src.set_len((2 << 30) + 5).expect("len");
        drop(src);
        let mut from = File::open(&a).expect("open");
        let mut to = File::create(&b).expect("create");
        assert_eq!(copy(&mut from, &mut to).expect("copy"), (2 << 30) + 5);
        let m = std::fs::metadata(&b).expect("meta");
        assert_eq!(m.len(), (2 << 30) + 5);
        assert!(
            m.blocks() * 512 < 1 << 20,
            "{} bytes allocated",
            m.blocks() * 512
        );
        use std::os::unix::fs::FileExt;
        let check = File::open(&b).expect("open");
        let mut four = [0u8; 4];
        check.read_exact_at(&mut four, 0).expect("read");
        assert_eq!(&four, b"head");
        check.read_exact_at(&mut four, 1 << 30).expect("read");
        assert_eq!(&four, b"tail");
        check.read_exact_at(&mut four, 1 << 20).expect("read");
        assert_eq!(four, [0; 4], "a hole reads as zeros");
    }
}
