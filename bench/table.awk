# Renders bench/run.sh's results (KEY VALUE lines) as a markdown table of Tern against NATS
# JetStream and Redis Streams, with the ratios, issue 9's targets and whether each is met.
# Keys: SYSTEM.MODE.pSIZExPRODUCERS.{msgs,mbps}, SYSTEM.MODE.lat.{p50,p99,msgs},
# SYSTEM.default.consume.{msgs,mbps} (SYSTEM tern, js or redis; MODE default or fsync),
# SYSTEM.default.pipe4096.{msgs,mbps} (tern, js), tern.scale.{q8,q10k}.{msgs,mbps}, tern.big.{start,tail}.{msgs,mbps},
# disk.mbps and disk.fdsync. A missing key prints as n/a.
# A key recorded more than once (bench/run.sh --rounds) stands for the median of its values.
# Usage: awk -v lat_rate=10000 -v backlog=N -v big=N -f table.awk results
{ cnt[$1]++; vals[$1, cnt[$1]] = $2; r[$1] = $2 }

# median(k): the median of the values recorded for k (the mean of the middle two for an even
# count); non-numbers (n/a) are left out.
function median(k,    a, m, i, j, x) {
	m = 0
	for (i = 1; i <= cnt[k]; i++) if (vals[k, i] ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) a[++m] = vals[k, i] + 0
	if (m == 0) return r[k]
	for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}

function has(k) { return (k in r) && r[k] != "" }
function commas(x,    s, neg) {
	x = sprintf("%.0f", x); neg = ""
	if (x ~ /^-/) { neg = "-"; x = substr(x, 2) }
	s = ""
	while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
	return neg x s
}
function tput(k) { return has(k ".msgs") ? commas(r[k ".msgs"]) " (" sprintf("%.1f", r[k ".mbps"]) " MB/s)" : "n/a" }
function ms(k) { return has(k) ? sprintf("%.2f ms", r[k]) : "n/a" }
function ratio(a, b,    x) {
	if (!has(a) || !has(b) || r[b] <= 0) return "n/a"
	x = r[a] / r[b]
	return sprintf(x < 0.1 ? "%.3f×" : "%.2f×", x)
}
function ok(cond) { return cond ? "met" : "**NOT MET**" }
function row(label, t, j, d, tj, td, target, met) {
	printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, t, j, d, tj, td, target, met
}
# scaling(k): k's 16-producer rate as a share of 16 × its one-producer rate (k is SYSTEM.MODE.pSIZE).
function scaling(k) {
	if (!has(k "x16.msgs") || !has(k "x1.msgs") || r[k "x1.msgs"] <= 0) return "n/a"
	return sprintf("%.0f%%", 100 * r[k "x16.msgs"] / (16 * r[k "x1.msgs"]))
}
function section(label) { row("**" label "**", "", "", "", "", "", "", "") }
function sysname(x) { return x == 1 ? "tern" : x == 2 ? "js" : "redis" }
function sizename(s) { return s >= 1024 ? (s / 1024) " KiB" : s " B" }

END {
	for (k in cnt) if (cnt[k] > 1) r[k] = median(k)
	# Issue 9's targets for 16 producers: Tern's rate as a multiple of JetStream's, by durability.
	times["default"] = 2; times["fsync"] = 8
	row("measure", "Tern", "JetStream", "Redis", "Tern/JetStream", "Tern/Redis", "target (issue 9)", "met")
	print "|---|---:|---:|---:|---:|---:|---|---|"
	split("128 1024 4096", sizes, " ")
	split("1 16", prods, " ")
	for (m = 1; m <= 2; m++) {
		mode = m == 1 ? "default" : "fsync"
		if (mode == "default")
			section("Produce, default durability (Tern ASYNC_FLUSH, JetStream default, Redis appendfsync everysec): msgs/s (MB/s)")
		else
			section("Produce, fsync before the ack (Tern SYNC_FLUSH, JetStream sync_interval always, Redis appendfsync always): msgs/s (MB/s)")
		for (i = 1; i <= 3; i++) for (p = 1; p <= 2; p++) {
			s = sizes[i]; n = prods[p]; key = mode ".p" s "x" n
			t = "tern." key; j = "js." key; d = "redis." key
			target = ""; met = ""
			if (n == 16) { # times[mode] × JetStream, and with fsync at least Redis too
				target = "≥ " times[mode] "× JetStream"
				known = has(t ".msgs") && has(j ".msgs")
				good = r[t ".msgs"] >= times[mode] * r[j ".msgs"]
				if (mode == "fsync") {
					target = target ", ≥ 1× Redis"
					known = known && has(d ".msgs")
					good = good && r[t ".msgs"] >= r[d ".msgs"]
				}
				met = known ? ok(good) : "n/a"
			}
			row(sizename(s) " × " n (n == 1 ? " producer" : " producers"), tput(t), tput(j), tput(d),
				ratio(t ".msgs", j ".msgs"), ratio(t ".msgs", d ".msgs"), target, met)
		}
	}

	section("Scaling from 1 to 16 synchronous producers: the 16 producers' msgs/s as a share of 16 × one producer's (100%: each producer as fast as alone)")
	for (m = 1; m <= 2; m++) {
		mode = m == 1 ? "default" : "fsync"
		for (i = 1; i <= 3; i++) {
			key = mode ".p" sizes[i]
			for (x = 1; x <= 3; x++) {
				sys = sysname(x)
				share[x] = scaling(sys "." key)
			}
			# What the issue's target asks of Tern on this scale: times[mode] × JetStream's 16
			# producers as a share of 16 × Tern's one producer.
			t = "tern." key "x1.msgs"; j = "js." key "x16.msgs"
			need = has(t) && has(j) && r[t] > 0 ? sprintf("%d× JetStream is %.0f%%", times[mode], 100 * times[mode] * r[j] / (16 * r[t])) : ""
			row(mode " durability, " sizename(sizes[i]), share[1], share[2], share[3], "", "", need, "")
		}
	}

	section("Consume a backlog of " commas(backlog) " messages of 1 KiB, from the first offset: msgs/s (MB/s)")
	t = "tern.default.consume"; j = "js.default.consume"
	row("one consumer", tput(t), tput(j), "—", ratio(t ".msgs", j ".msgs"), "—", "≥ 1.5× JetStream",
		has(t ".msgs") && has(j ".msgs") ? ok(r[t ".msgs"] >= 1.5 * r[j ".msgs"]) : "n/a")

	section("End-to-end latency, 1 KiB at " commas(lat_rate) " msgs/s, one producer, one consumer (Tern/JetStream < 1: Tern is faster)")
	for (m = 1; m <= 2; m++) {
		mode = m == 1 ? "default" : "fsync"
		t = "tern." mode ".lat"; j = "js." mode ".lat"
		row(mode " durability: p50", ms(t ".p50"), ms(j ".p50"), "—", ratio(t ".p50", j ".p50"), "—", "", "")
		row(mode " durability: p99", ms(t ".p99"), ms(j ".p99"), "—", ratio(t ".p99", j ".p99"), "—",
			mode == "default" ? "Tern p99 ≤ 5 ms" : "", mode == "default" ? (has(t ".p99") ? ok(r[t ".p99"] <= 5) : "n/a") : "")
		row(mode " durability: messages received per second", has(t ".msgs") ? commas(r[t ".msgs"]) : "n/a",
			has(j ".msgs") ? commas(r[j ".msgs"]) : "n/a", "—", "", "—", "", "")
	}

	section("Scale: Tern alone, 1 KiB × 16 producers, default durability, msgs/s (MB/s); the ratio is to the 8-queue run")
	row("one topic of 8 queues", tput("tern.scale.q8"), "—", "—", "", "", "", "")
	row("2,500 topics × 4 queues (10,000 queues), sends spread round-robin", tput("tern.scale.q10k"), "—", "—",
		ratio("tern.scale.q10k.msgs", "tern.scale.q8.msgs"), "", "≥ 0.8× the 8-queue run",
		has("tern.scale.q10k.msgs") && has("tern.scale.q8.msgs") ? ok(r["tern.scale.q10k.msgs"] >= 0.8 * r["tern.scale.q8.msgs"]) : "n/a")

	if (big > 0) {
		section("Scale: Tern alone, a backlog of " commas(big) " messages of 1 KiB; each row consumes " commas(big / 10) " of them with a new push consumer: msgs/s (MB/s); the ratio is to the tail")
		row("its first tenth, from the first offset", tput("tern.big.start"), "—", "—",
			ratio("tern.big.start.msgs", "tern.big.tail.msgs"), "", "≥ 0.9× the tail (the same rate)",
			has("tern.big.start.msgs") && has("tern.big.tail.msgs") ? ok(r["tern.big.start.msgs"] >= 0.9 * r["tern.big.tail.msgs"]) : "n/a")
		row("its last tenth, from its store time", tput("tern.big.tail"), "—", "—", "", "", "", "")
	}

	section("Against the disk: fio sequential write " (has("disk.mbps") ? commas(r["disk.mbps"]) " MB/s" : "n/a") \
		", fdatasync " (has("disk.fdsync") ? commas(r["disk.fdsync"]) "/s" : "n/a"))
	k = "default.p4096x16.mbps"
	for (x = 1; x <= 3; x++) {
		sys = sysname(x)
		share[x] = has(sys "." k) && has("disk.mbps") ? sprintf("%.1f%%", 100 * r[sys "." k] / r["disk.mbps"]) : "n/a"
	}
	row("4 KiB × 16 synchronous producers, one message per send, default durability, MB/s as a share of the disk's sequential write",
		share[1], share[2], share[3], "", "", "", "")
	k = "default.pipe4096"
	for (x = 1; x <= 2; x++) {
		sys = sysname(x)
		share[x] = has(sys "." k ".mbps") && has("disk.mbps") ? sprintf("%.1f%%", 100 * r[sys "." k ".mbps"] / r["disk.mbps"]) : "n/a"
	}
	row("4 KiB × 16 producers with 16 messages each in flight (Tern: batches of 16; JetStream: asynchronous publishes, 16 PubAcks outstanding), default durability: msgs/s (MB/s)",
		tput("tern." k), tput("js." k), "—", ratio("tern." k ".msgs", "js." k ".msgs"), "—", "", "")
	row("the same, MB/s as a share of the disk's sequential write", share[1], share[2], "—", "", "—",
		"Tern ≥ 60%", has("tern." k ".mbps") && has("disk.mbps") ? ok(r["tern." k ".mbps"] >= 0.6 * r["disk.mbps"]) : "n/a")
	split("16 1", pp, " ")
	for (q = 1; q <= 2; q++) {
		k = "fsync.p1024x" pp[q] ".msgs"
		for (x = 1; x <= 3; x++) {
			sys = sysname(x)
			per[x] = has(sys "." k) && has("disk.fdsync") ? sprintf("%.2f", r[sys "." k] / r["disk.fdsync"]) : "n/a"
		}
		row("1 KiB × " pp[q] (pp[q] == 1 ? " producer" : " producers") ", fsync before the ack: msgs/s per fdatasync/s" \
			(pp[q] == 1 ? " (about 1 or less: one fsync per ack)" : " (above 1: group commit)"), per[1], per[2], per[3], "", "", "", "")
	}
}
