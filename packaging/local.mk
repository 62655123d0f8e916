# packaging/: what `make install` puts next to the programs (logosd and logos are
# bin_PROGRAMS of agent/ and shell/): the man pages, the systemd unit and the
# example config file. docs/INSTALL.md says how to use them.
dist_man1_MANS = docs/logos.1
dist_man8_MANS = docs/logosd.8
EXTRA_DIST += packaging/logosd.service packaging/logosd.conf docs/INSTALL.md

# The unit is installed with ExecStart pointing at $(bindir); the example config as
# $(sysconfdir)/logos/logosd.conf.example, never over a real logosd.conf.
install-data-local: install-packaging
uninstall-local: uninstall-packaging

install-packaging:
	$(MKDIR_P) "$(DESTDIR)$(systemdunitdir)" "$(DESTDIR)$(sysconfdir)/logos"
	sed -e 's|/usr/local/bin/logosd|$(bindir)/logosd|g' \
		"$(srcdir)/packaging/logosd.service" >packaging/logosd.service.tmp
	$(INSTALL_DATA) packaging/logosd.service.tmp "$(DESTDIR)$(systemdunitdir)/logosd.service"
	rm -f packaging/logosd.service.tmp
	$(INSTALL_DATA) "$(srcdir)/packaging/logosd.conf" \
		"$(DESTDIR)$(sysconfdir)/logos/logosd.conf.example"

uninstall-packaging:
	rm -f "$(DESTDIR)$(systemdunitdir)/logosd.service" \
		"$(DESTDIR)$(sysconfdir)/logos/logosd.conf.example"

.PHONY: install-packaging uninstall-packaging
