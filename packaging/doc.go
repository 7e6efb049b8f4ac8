// Package packaging holds how traced is installed and run as a service: the
// systemd unit and its generator (systemd/), the settings file installed as
// /etc/default/traced (default/), the sysctl file (sysctl/), the Debian
// package (deb/, built by `make deb`), and the tests that check them: the unit
// with systemd-analyze, the package with lintian and a whole dpkg life cycle
// (install, upgrade, remove, purge), and install.sh.
//
// The life-cycle tests need root, dpkg, debhelper and lintian
// (scripts/install-test-deps.sh installs them); elsewhere they are skipped,
// except under CI, where they fail.
package packaging
