// Package reliability holds the fault, disk-full and overload tests of issue 10. They run real
// `tern dev` processes (built once per test binary) and check them from the outside with
// sdk/client, so that a SIGKILL or a SIGBUS hits the broker and never the checker.
//
//   - TestFaultSoak (build tag soak; .ci/soak.sh runs it): synchronous producers and push
//     consumers against a broker that is SIGKILLed and restarted at random, with SYNC_FLUSH and
//     then ASYNC_FLUSH. Every acknowledged message must be consumed at least once with the
//     checksum it was sent with; duplicates and "unacknowledged but stored" are counted and
//     reported, not failures.
//   - TestDiskFull (root only: it mounts a tmpfs with a size cap): sends are refused with
//     SERVICE_NOT_AVAILABLE "store: disk full ..." once diskSpaceWarningLevelRatio is passed,
//     what was stored reads back intact, and sends resume once space is freed.
//   - TestOverload (build tag soak): fast producers and slow consumers; the broker's peak RSS
//     stays bounded, excess sends get SYSTEM_BUSY "[OVERLOAD] ..." and sends succeed again when
//     the load drops.
//
// Everything listens on 127.0.0.1 on ephemeral ports, in temporary directories.
package reliability
