# SPDX-License-Identifier: BSD-2-Clause
# mem.awk - the soak test's memory and descriptor verdict
# (tests/soak/soak.sh). Input: the samples file, one line a sample
#   ELAPSED KIND PID UPTIME VmRSS RssAnon RssFile FDS THREADS
# (kB), KIND tick (every 10 s), mid (half way through a lifetime
# between two kills), end (just before a kill) or final (once the load
# has ended: shown, never compared). -v soak_s (how long
# the load ran) and kills (how many were planned).
#
# What is compared. sav-milter is killed every soak_s/kills seconds, so
# no process lives long, and a process's memory right after a start
# says nothing about one that has run for a while. The comparison is
# therefore between equal uptimes:
#   - with kills, the "end" samples: every lifetime between two kills
#     has the same length and the same load, so its size at its end
#     shows whether anything builds up over the run (a cache that makes
#     every new process bigger, descriptors that pile up); and, within
#     each lifetime, the growth from "mid" to "end", which shows what
#     one process leaks while it runs, once its threads and buffers are
#     there;
#   - without kills (SOAK_KILLS=0), the one process's tick samples.
# Warm-up is the first quarter of the run. What follows is cut into
# quartiles by time and the first one is compared with the last, by
# medians: flat when RssAnon (the heap and stacks, where leaks show)
# grew by at most 10 % + 1 MiB, VmRSS (which also counts the cache
# file's pages in memory, growing with the cache) by at most 25 % +
# 2 MiB, and open descriptors by at most 25 % + 4. The in-lifetime growth
# is flat when its median is at most 1 MiB of RssAnon and 4 descriptors.
# Prints the tick series compactly ('|' where a new process begins) and
# a last line "MEMRESULT flat ..." or "MEMRESULT growing ..." (or
# "MEMRESULT flat, too few samples ..." when the run is too short to say).

function median(a, n,   i, j, t) {
	if (n == 0)
		return -1
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function series(name, col, scale, fmt,   i, line, cnt, v) {
	line = ""
	cnt = 0
	for (i = 1; i <= nt; i++) {
		v = sprintf(fmt, tv[i, col] / scale)
		if (cnt == 0)
			line = sprintf("soak: %-9s t=%-5s", name, tt[i])
		line = line (i > 1 && tp[i] != tp[i - 1] ? " |" : "") " " v
		if (++cnt == 30 || i == nt) {
			print line
			cnt = 0
		}
	}
}

{
	if ($2 == "tick" || $2 == "final") {
		nt++
		tt[nt] = $1
		tp[nt] = $3
		for (c = 5; c <= 9; c++)
			tv[nt, c] = $c
	}
	n++
	el[n] = $1; kind[n] = $2; pid[n] = $3; up[n] = $4
	rss[n] = $5; anon[n] = $6; file[n] = $7; fds[n] = $8
	if ($2 == "mid") {
		midanon[$3] = $6
		midfds[$3] = $8
		midel[$3] = $1
	}
}

END {
	if (nt == 0) {
		print "MEMRESULT growing: no sample at all (did the milter run?)"
		exit
	}
	series("VmRSS MiB", 5, 1024, "%.1f")
	series("RssAnon", 6, 1024, "%.1f")
	series("fds", 8, 1, "%d")
	series("threads", 9, 1, "%d")
	warm = soak_s / 4
	span = soak_s - warm
	use = kills > 0 ? "end" : "tick"
	n1 = n4 = 0
	for (i = 1; i <= n; i++) {
		# the last seconds are the load's tail, with fewer sessions
		if (kind[i] != use || el[i] < warm || el[i] > soak_s - 5)
			continue
		q = int((el[i] - warm) * 4 / span)
		if (q == 0) {
			n1++; a1[n1] = anon[i]; r1[n1] = rss[i]; f1[n1] = fds[i]
		} else if (q >= 3) {
			n4++; a4[n4] = anon[i]; r4[n4] = rss[i]; f4[n4] = fds[i]
		}
	}
	# in-lifetime growth, mid to end, after warm-up
	ng = 0
	for (i = 1; i <= n; i++)
		if (kind[i] == "end" && (pid[i] in midanon) && midel[pid[i]] >= warm) {
			ng++
			ga[ng] = anon[i] - midanon[pid[i]]
			gf[ng] = fds[i] - midfds[pid[i]]
		}
	ma1 = median(a1, n1); ma4 = median(a4, n4)
	mr1 = median(r1, n1); mr4 = median(r4, n4)
	mf1 = median(f1, n1); mf4 = median(f4, n4)
	mga = median(ga, ng); mgf = median(gf, ng)
	printf "soak: memory compared at equal uptimes (%s samples after %d s of warm-up):", \
		use == "end" ? "end-of-lifetime" : "10 s", warm
	if (n1 == 0 || n4 == 0) {
		print " too few samples"
		print "MEMRESULT flat, too few samples to compare (run longer)"
		exit
	}
	printf "\nsoak:   first quartile (%d): VmRSS %.1f MiB, RssAnon %.1f MiB, fds %d\n", n1, mr1 / 1024, ma1 / 1024, mf1
	printf "soak:   last quartile  (%d): VmRSS %.1f MiB, RssAnon %.1f MiB, fds %d\n", n4, mr4 / 1024, ma4 / 1024, mf4
	bad = ""
	if (ma4 > ma1 * 1.10 + 1024)
		bad = bad sprintf(" RssAnon %.1f -> %.1f MiB;", ma1 / 1024, ma4 / 1024)
	if (mr4 > mr1 * 1.25 + 2048)
		bad = bad sprintf(" VmRSS %.1f -> %.1f MiB;", mr1 / 1024, mr4 / 1024)
	if (mf4 > mf1 * 1.25 + 4)
		bad = bad sprintf(" fds %d -> %d;", mf1, mf4)
	if (ng > 0) {
		printf "soak:   within a lifetime, mid to end (%d lifetimes): RssAnon %+.0f kB, fds %+d (medians)\n", ng, mga, mgf
		if (mga > 1024)
			bad = bad sprintf(" RssAnon grows %+.0f kB within a lifetime;", mga)
		if (mgf > 4)
			bad = bad sprintf(" fds grow %+d within a lifetime;", mgf)
	}
	if (bad == "") {
		print "soak: memory: flat after warm-up"
		print "MEMRESULT flat"
	} else {
		print "soak: memory: growing:" bad
		print "MEMRESULT growing:" bad
	}
}
