//! Peak resident memory of this process. On Linux it is `VmHWM` in `/proc/self/status`,
//! which [`reset_peak`] can lower to the current size, so each device gets its own peak;
//! on other Unix systems it is `getrusage`'s `ru_maxrss`, the peak since the process
//! started (earlier devices included); elsewhere it is unknown.

/// The peak resident set size in bytes, if the system says.
pub fn peak_rss_bytes() -> Option<u64> {
    imp::peak_rss_bytes()
}

/// Lowers the recorded peak to the current resident size where the system allows it
/// (Linux); elsewhere it does nothing.
pub fn reset_peak() {
    imp::reset_peak();
}

#[cfg(target_os = "linux")]
mod imp {
    pub fn peak_rss_bytes() -> Option<u64> {
        parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    /// The `VmHWM` line of a `/proc/<pid>/status` text, in bytes.
    pub(super) fn parse_vm_hwm(status: &str) -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let mut fields = line["VmHWM:".len()..].split_whitespace();
        let value: u64 = fields.next()?.parse().ok()?;
        match fields.next() {
            Some("kB") => Some(value * 1024),
            _ => None,
        }
    }

    pub fn reset_peak() {
        // "5" resets the high-water mark (proc(5), Linux 4.0+); where that is refused the
        // peak simply carries over from earlier work.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    pub fn peak_rss_bytes() -> Option<u64> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given and reads nothing else.
        let usage = unsafe {
            if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
                return None;
            }
            usage.assume_init()
        };
        let max_rss = u64::try_from(usage.ru_maxrss).ok()?;
        // macOS and iOS count bytes; the BSDs count kilobytes.
        if cfg!(any(target_os = "macos", target_os = "ios")) {
            Some(max_rss)
        } else {
            Some(max_rss * 1024)
        }
    }

    pub fn reset_peak() {}
}

#[cfg(not(unix))]
mod imp {
    pub fn peak_rss_bytes() -> Option<u64> {
        None
    }

    pub fn reset_peak() {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status =
            "Name:\tabridge\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(imp::parse_vm_hwm(status), Some(123_456 * 1024));
        assert_eq!(imp::parse_vm_hwm("VmRSS:\t 1000 kB\n"), None);
        assert_eq!(imp::parse_vm_hwm("VmHWM:\t lots\n"), None);
    }

    #[test]
    fn the_peak_covers_memory_in_use() {
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        assert!(peak_rss_bytes().expect("Linux reports VmHWM") >= 64 << 20);
    }
}
