# SPDX-License-Identifier: BSD-2-Clause
# check.awk - the soak test's judge (tests/soak/soak.sh): every decision
# the milter logged, every milter reply the Postfix front logged and
# every SMTP reply smtp_load saw, against the truth.
#
# Input files, in this order, named by -v variables:
#   pools   "CLASS APPEAR-S ADDRESS": the truth, one class per sender
#   kills   "K KILL-EPOCH READY-EPOCH ...": when each kill -9 happened and
#           when the restarted milter was ready again
#   mlog    the milter's stderr (-f), every lifetime appended
#   flog    the Postfix front's maillog
#   res     smtp_load -o lines "SENDER MAILCODE FINALCODE MS"
# Other -v: year, month (of the run, for the maillog's dates), sessions,
# client ("[127.0.0.9]"), load_s (how long the load ran), spf (the
# milter's ProbeWhen when the world has SPF records, else empty).
#
# THE RULES. Each class has one settled verdict, what its server or its
# DNS really says (verdict reason action, and the MX address it came
# from):
#   valid, slow-valid       valid user-ok accept          (MX .2 / .5)
#   invalid, slow-invalid   invalid user-unknown reject   (MX .2 / .5)
#   grey                    tempfail greylisted tempfail  (MX .2)
#   silent                  tempfail timeout tempfail     (MX .6)
#   dead                    bad-domain nxdomain reject    (no MX)
#   catch-all               catch-all catch-all accept    (MX .3)
#   spf-valid (with spf)    valid user-ok accept (MX .2); under
#                           ProbeWhen spf-not-pass skipped spf-pass accept
# Under ProbeWhen spf-not-pass every decision line must also carry the
# SPF result its domain publishes (spf-valid pass; valid, invalid and
# grey fail; catch-all softfail; silent neutral; slow and dead none) or
# temperror (a DNS answer that came too late: a deferral about the
# DNS, counted, the probe then decides as before).
# A decision is right when it is the settled verdict (from a probe or
# from the cache), or when it is a deferral about us rather than about
# the address - "tempfail budget" (the probe did not finish within
# ProbeWait: a slow or silent server's first contact, or any first
# contact under load) or "tempfail rate-limited" (no probe slot in
# time) - and the cache was missed: those two are never stored, so a
# cache hit must always be the settled verdict. Anything else is wrong:
# an accept for invalid or dead, a reject for valid, grey, silent,
# slow-valid or catch-all, a deferral of a known verdict, an internal
# error, a verdict from the wrong MX, a decision for another client.
# The milter must never say that its cache is unusable, moved aside,
# read-only or off.
#
# Each milter reply Postfix logged (milter-reject at MAIL) must be the
# reply of an allowed decision for the class (code, enhanced code and
# the reason in parentheses). Postfix's own milter_default_action
# reply ("451 4.7.1 Service unavailable - try again later", no
# decision behind it), at any stage, is allowed only in an SMTP session
# that began before a restarted milter was ready and got it after that
# kill: the milter was down, or died under it (Postfix then keeps the
# default for the rest of the session). The same goes for each warning
# Postfix logs about the milter (a refused connect, EOF on the socket);
# a time-out is never allowed. The maillog has whole seconds,
# so "after the kill" is read as "in the second of the kill or later".
#
# Each SMTP reply smtp_load saw: MAIL was answered (never a time-out or
# a lost connection); its code is one the class allows (valid,
# slow-valid, catch-all: 250 or 451; invalid, slow-invalid, dead: 550 or
# 451; grey: 450 or 451; silent: 451); after a 250 the message ends in
# 250, or 451 from the default action; after a refusal the final code
# is that refusal. Per sender, the replies smtp_load saw at MAIL must
# be exactly those in the maillog (code by code), the milter's replies
# must each have a decision line with the same code and reason, and the
# decisions left without a reply (the milter died between logging and
# answering) can be at most SESSIONS per kill.
#
# Prints the tables and each wrong decision (the first 50 of each
# kind, then counts), and last a line
#   RESULT wrong=N inconsistent=M decisions=D transactions=T uncovered=U
# that soak.sh reads (with uncovered=U: the classes that never got
# their settled verdict, never a cache hit, or - slow and silent - never
# a budget deferral: such a run did not test what it claims).

function wrong(kind, msg) {
	nwrong++
	kinds[kind]++
	if (kinds[kind] <= 50)
		print "soak: WRONG " kind ": " msg
}

function incons(kind, msg) {
	nincons++
	ikinds[kind]++
	if (ikinds[kind] <= 20)
		print "soak: INCONSISTENT " kind ": " msg
}

# reply - the reply code, enhanced code and reason the milter gives for
# a decision (milter/decide.c), "250" for accept
function reply(v, r, a) {
	if (a == "accept")
		return "250"
	if (a == "reject") {
		if (v == "invalid" || v == "bad-syntax")
			return "550 5.1.7 " r
		if (v == "bad-domain")
			return (r == "null-mx" ? "550 5.7.27 " : "550 5.1.8 ") r
		return "550 5.7.1 " r
	}
	if (v == "tempfail") {
		if (r == "greylisted" || r == "temp-reply" || r == "mailbox-full" || r == "service-closing")
			return "450 4.1.7 " r
		if (r == "rate-limited")
			return "451 4.7.1 " r
		return "451 4.4.3 " r
	}
	if (v == "error")
		return "451 4.3.0 " r
	if (v == "invalid" || v == "bad-syntax")
		return "450 4.1.7 " r
	if (v == "bad-domain")
		return "450 4.1.8 " r
	return "451 4.7.1 " r
}

# pct - the spf_ms at fraction q of the evaluations (whole milliseconds)
function pct(q,   v, cum) {
	if (nspf == 0)
		return "-"
	for (v = 0; v <= spfmax; v++) {
		cum += spfhist[v]
		if (cum >= q * nspf)
			return v
	}
	return spfmax
}

function epoch(mon, day, hms,   t, y, m) {
	m = mnum[mon]
	y = year + (m < month + 0 ? 1 : 0)	# a run over New Year
	split(hms, t, ":")
	return mktime(y " " m " " day " " t[1] " " t[2] " " t[3])
}

# justified - may a default-action reply at second T in the session of
# smtpd PID be the effect of a kill?
function justified(pid, t,   c, k) {
	c = (pid in sstart) ? sstart[pid] : t
	for (k = 1; k <= nk; k++)
		if (c <= kready[k] && t + 1 > kkill[k])
			return 1
	return 0
}

BEGIN {
	split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mn, " ")
	for (i = 1; i <= 12; i++)
		mnum[mn[i]] = i
	nclass = split("valid invalid grey slow-valid slow-invalid silent dead catch-all", order, " ")
	settled["valid"] = "valid user-ok accept";		mx["valid"] = "127.0.0.2"
	settled["invalid"] = "invalid user-unknown reject";	mx["invalid"] = "127.0.0.2"
	settled["grey"] = "tempfail greylisted tempfail";	mx["grey"] = "127.0.0.2"
	settled["slow-valid"] = "valid user-ok accept";		mx["slow-valid"] = "127.0.0.5"
	settled["slow-invalid"] = "invalid user-unknown reject"; mx["slow-invalid"] = "127.0.0.5"
	settled["silent"] = "tempfail timeout tempfail";	mx["silent"] = "127.0.0.6"
	settled["dead"] = "bad-domain nxdomain reject";		mx["dead"] = "-"
	settled["catch-all"] = "catch-all catch-all accept";	mx["catch-all"] = "127.0.0.3"
	if (spf != "") {
		order[++nclass] = "spf-valid"
		mx["spf-valid"] = spf == "spf-not-pass" ? "-" : "127.0.0.2"
		settled["spf-valid"] = spf == "spf-not-pass" ? "skipped spf-pass accept" : "valid user-ok accept"
		codes["spf-valid"] = " 250 451 "
		spfwant["spf-valid"] = "pass"
		spfwant["valid"] = spfwant["invalid"] = spfwant["grey"] = "fail"
		spfwant["catch-all"] = "softfail"
		spfwant["silent"] = "neutral"
		spfwant["slow-valid"] = spfwant["slow-invalid"] = spfwant["dead"] = "none"
	}
	about_us["tempfail budget tempfail"] = 1
	about_us["tempfail rate-limited tempfail"] = 1
	# the SMTP codes at MAIL each class allows (451: a deferral about
	# us, or the default action)
	codes["valid"] = " 250 451 ";	codes["slow-valid"] = " 250 451 ";	codes["catch-all"] = " 250 451 "
	codes["invalid"] = " 550 451 ";	codes["slow-invalid"] = " 550 451 ";	codes["dead"] = " 550 451 "
	codes["grey"] = " 450 451 ";	codes["silent"] = " 451 "
	for (c in settled) {
		split(settled[c], p, " ")
		okreply[c, reply(p[1], p[2], p[3])] = 1
		okreply[c, "451 4.4.3 budget"] = 1
		okreply[c, "451 4.7.1 rate-limited"] = 1
	}
}

FILENAME == pools {
	cls[$3] = $1
	next
}

FILENAME == kills {
	if ($3 == "-")
		next
	nk++
	kkill[nk] = $2 + 0
	kready[nk] = $3 + 0
	next
}

FILENAME == mlog {
	if (index($0, " sender=<") == 0) {
		if (index($0, "starting:"))
			starts++
		else if (index($0, "configuration reloaded"))
			reloads++
		else {
			# the cache must stay sound all along, not only at starts
			if ($0 ~ /cache .*(unusable|moved aside|read-only|cache off|not cached)/)
				wrong("cache", $0)
			m = $0
			gsub(/[0-9]+/, "N", m)
			gsub(/\/tmp\/[^ :;,]*/, "PATH", m)
			other[m]++
		}
		next
	}
	delete f
	for (i = 2; i <= NF; i++) {
		e = index($i, "=")
		if (e > 0)
			f[substr($i, 1, e - 1)] = substr($i, e + 1)
	}
	s = f["sender"]
	sub(/^</, "", s)
	sub(/>$/, "", s)
	decisions++
	c = (s in cls) ? cls[s] : ""
	tuple = f["verdict"] " " f["reason"] " " f["action"]
	ip = ("ip" in f) ? f["ip"] : "-"
	if (c == "") {
		wrong("decision", "unknown sender: " $0)
		next
	}
	dn[c]++
	dact[c, f["action"]]++
	dcache[c, f["cache"]]++
	if (tuple == settled[c] && ip == mx[c]) {
		ok = 1
		dsettled[c]++
	}
	else if ((tuple in about_us) && f["cache"] == "miss" && (ip == "-" || ip == mx[c]))
		ok = 1
	else
		ok = 0
	if (f["client"] != client)
		ok = 0
	if (!ok)
		wrong("decision", c " sender: " substr($0, index($0, "sender=")))
	if (spf == "spf-not-pass") {
		if (!("spf" in f))
			wrong("spf", "no SPF result: " substr($0, index($0, "sender=")))
		else if (f["spf"] != spfwant[c] && f["spf"] != "temperror")
			wrong("spf", c " sender, want spf=" spfwant[c] ": " substr($0, index($0, "sender=")))
		spfres[c, f["spf"]]++
		if ("spf_ms" in f) {
			nspf++
			spfsum += f["spf_ms"]
			spfhist[f["spf_ms"] + 0]++
			if (f["spf_ms"] + 0 > spfmax)
				spfmax = f["spf_ms"] + 0
		} else
			spfremembered++
	}
	if (tuple in about_us)
		dabout[c, f["reason"]]++
	ds[s, reply(f["verdict"], f["reason"], f["action"])]++
	next
}

FILENAME == flog {
	if (index($0, "warning:")) {
		m = $0
		sub(/^.*warning: /, "", m)
		gsub(/[0-9]+/, "N", m)
		gsub(/\/tmp\/[^ :]*/, "PATH", m)
		pfwarn[m]++
		milterwarn = m ~ /[Mm]ilter/
		# a dead milter gives a refused connect or EOF, never a time-out
		if (milterwarn && m ~ /time ?out/)
			wrong("milter-failure", "Postfix: " $0)
	} else
		milterwarn = 0
	if (match($0, /\/smtpd\[[0-9]+\]: /)) {
		pid = substr($0, RSTART + 7, RLENGTH - 10)
		t = epoch($1, $2, $3)
		if (milterwarn) {
			if (!justified(pid, t))
				wrong("milter-failure", "no kill explains it: " $0)
			next
		}
		if (index($0, "]: connect from ")) {
			sstart[pid] = t
			next
		}
		# "QID: client=...": the queue file is this session's
		if (index($0, ": client=")) {
			q = $0
			sub(/^.*smtpd\[[0-9]+\]: /, "", q)
			sub(/:.*/, "", q)
			qpid[q] = pid
			next
		}
	} else if (index($0, "/cleanup[") && index($0, ": milter-reject: ")) {
		# the milter's end-of-message step runs in cleanup: its
		# session is the smtpd that made the queue file
		t = epoch($1, $2, $3)
		q = $0
		sub(/^.*cleanup\[[0-9]+\]: /, "", q)
		sub(/:.*/, "", q)
		pid = (q in qpid) ? qpid[q] : "-"
	} else {
		if (index($0, "/qmgr[") && index($0, ": removed")) {
			q = $0
			sub(/^.*qmgr\[[0-9]+\]: /, "", q)
			sub(/:.*/, "", q)
			delete qpid[q]
		}
		next
	}
	if (index($0, ": milter-reject: ") == 0) {
		if (index($0, ": reject: ")) {
			pfreject++
			wrong("postfix", "Postfix refused on its own: " $0)
		}
		next
	}
	m = $0
	sub(/^.*: milter-reject: /, "", m)
	stage = m
	sub(/ .*/, "", stage)
	sub(/^[^]]*\]: /, "", m)
	code = m
	sub(/ .*/, "", code)
	dsn = m
	sub(/^[^ ]* /, "", dsn)
	sub(/ .*/, "", dsn)
	text = m
	sub(/^[^ ]* [^ ]* /, "", text)
	sub(/; from=<.*/, "", text)
	sub(/; proto=.*/, "", text)
	from = ""
	if (match(m, /from=<[^>]*>/))
		from = substr(m, RSTART + 6, RLENGTH - 7)
	if (index(m, "Service unavailable - try again later")) {
		defaults++
		defstage[stage]++
		if (!justified(pid, t))
			wrong("default-action", "no kill explains it: " $0)
		if (stage == "MAIL") {
			fm[from, code]++
			ddef[(from in cls) ? cls[from] : "?"]++
		}
		else if (from != "")
			flate[from]++
		next
	}
	# the milter's own reply: it decides at MAIL only
	if (stage != "MAIL") {
		wrong("reply", "a milter reply at " stage ": " $0)
		next
	}
	reason = text
	if (!sub(/.*\(/, "", reason) || !sub(/\)$/, "", reason))
		reason = "?"
	key = code " " dsn " " reason
	c = (from in cls) ? cls[from] : ""
	if (c == "" || !((c, key) in okreply))
		wrong("reply", (c == "" ? "unknown" : c) " sender: " key ": " $0)
	fm[from, code]++
	fk[from, key]++
	next
}

FILENAME == res {
	s = $1
	mc = $2
	fc = $3
	transactions++
	c = (s in cls) ? cls[s] : ""
	if (c == "") {
		wrong("smtp", "unknown sender " $0)
		next
	}
	rn[c]++
	rc[c, mc]++
	rs[s, mc]++
	if (mc == 250 && fc != 250)
		rlate[s]++
	if (mc == 0)
		wrong("smtp", c " sender " s ": no reply to MAIL (final " fc ", " $4 " ms)")
	else if (index(codes[c], " " mc " ") == 0)
		wrong("smtp", c " sender " s ": MAIL got " mc)
	else if (mc == 250 && fc != 250 && fc != 451)
		wrong("smtp", c " sender " s ": MAIL 250 but the message ended in " fc)
	else if (mc != 250 && fc != mc)
		wrong("smtp", c " sender " s ": MAIL " mc " but final " fc)
	smtp_seen[s] = 1
	next
}

END {
	# smtp_load's replies at MAIL against the maillog, code by code
	for (k in rs) {
		split(k, p, SUBSEP)
		if (p[2] == 250 || p[2] == 0)
			continue
		if (rs[k] != fm[k] + 0)
			incons("smtp-vs-maillog", p[1] ": " rs[k] " replies " p[2] " at MAIL, the maillog has " fm[k] + 0)
	}
	for (k in fm) {
		split(k, p, SUBSEP)
		if (!(k in rs))
			incons("smtp-vs-maillog", p[1] ": the maillog has " fm[k] " replies " p[2] " at MAIL, smtp_load saw none")
	}
	for (s in rlate)
		if (rlate[s] != flate[s] + 0)
			incons("smtp-vs-maillog", s ": " rlate[s] " messages refused after MAIL 250, the maillog has " flate[s] + 0)
	for (s in flate)
		if (!(s in rlate))
			incons("smtp-vs-maillog", s ": the maillog has " flate[s] " default-action refusals after MAIL, smtp_load saw none")
	# the milter's replies against its decision lines
	lost = 0
	for (k in fk) {
		if (!(k in ds)) {
			split(k, p, SUBSEP)
			incons("reply-vs-decision", p[1] ": " fk[k] " replies \"" p[2] "\", no such decision")
		}
	}
	for (k in ds) {
		split(k, p, SUBSEP)
		if (p[2] == "250")
			n = rs[p[1], 250] + 0
		else
			n = fk[k] + 0
		if (n > ds[k])
			incons("reply-vs-decision", p[1] ": " n " replies " p[2] ", " ds[k] " decisions")
		else
			lost += ds[k] - n
	}
	for (s in smtp_seen)
		if (rs[s, 250] + 0 > ds[s, "250"] + 0)
			incons("reply-vs-decision", s ": " rs[s, 250] " accepted at MAIL, " ds[s, "250"] + 0 " accept decisions")
	if (lost > nk * sessions)
		incons("lost", lost " decisions without a reply, more than " sessions " for each of " nk " kills")
	# coverage: a run in which a class never got its settled verdict,
	# never came from the cache, or (slow and silent servers) never ran
	# into ProbeWait did not test what it claims
	for (i = 1; i <= nclass; i++) {
		c = order[i]
		if (dsettled[c] + 0 == 0)
			uncovered = uncovered " " c ":no-settled-verdict"
		# a pass is remembered by the SPF step, not by the cache
		if (dcache[c, "hit"] + 0 == 0 && !(c == "spf-valid" && spf == "spf-not-pass"))
			uncovered = uncovered " " c ":no-cache-hit"
		if (c ~ /^(slow|silent)/ && dabout[c, "budget"] + 0 == 0)
			uncovered = uncovered " " c ":no-budget"
	}

	printf "soak: %-12s %7s %6s %6s %6s %7s | %7s %6s %6s %6s %6s %6s %6s\n", "class", "smtp", "250", "45x", "550", "dflt", \
		"decided", "accept", "tempf", "reject", "hit", "budget", "ratel"
	for (i = 1; i <= nclass; i++) {
		c = order[i]
		printf "soak: %-12s %7d %6d %6d %6d %7d | %7d %6d %6d %6d %6d %6d %6d\n", c, rn[c], rc[c, 250], \
			rc[c, 450] + rc[c, 451], rc[c, 550], ddef[c], dn[c], dact[c, "accept"], dact[c, "tempfail"], \
			dact[c, "reject"], dcache[c, "hit"], dabout[c, "budget"], dabout[c, "rate-limited"]
		tn += rn[c]; t250 += rc[c, 250]; t45 += rc[c, 450] + rc[c, 451]; t550 += rc[c, 550]; tdef += ddef[c]
		td += dn[c]; ta += dact[c, "accept"]; tt += dact[c, "tempfail"]; tr += dact[c, "reject"]
		th += dcache[c, "hit"]; tb += dabout[c, "budget"]; tl += dabout[c, "rate-limited"]
	}
	printf "soak: %-12s %7d %6d %6d %6d %7d | %7d %6d %6d %6d %6d %6d %6d\n", "all", tn, t250, t45, t550, tdef, \
		td, ta, tt, tr, th, tb, tl
	print "soak: (smtp: the replies to MAIL smtp_load saw, dflt of them Postfix's milter_default_action;"
	print "soak:  decided: the milter's decision lines, hit from the cache, budget and ratel the deferrals about us)"
	printf "soak: milter lifetimes %d, reloads %d; default-action replies %d (", starts, reloads, defaults
	sep = ""
	for (k in defstage) {
		printf "%s%s %d", sep, k, defstage[k]
		sep = ", "
	}
	printf "), decisions lost to kills %d\n", lost
	if (spf == "spf-not-pass") {
		printf "soak: SPF results by class:"
		for (i = 1; i <= nclass; i++) {
			c = order[i]
			printf " %s", c
			sep = " "
			for (k = split("pass fail softfail neutral none temperror permerror", rr, " "); k > 0; k--)
				if (spfres[c, rr[k]] + 0 > 0) {
					printf "%s%s=%d", sep, rr[k], spfres[c, rr[k]]
					sep = ","
				}
			printf ";"
		}
		print ""
		printf "soak: SPF evaluations %d (and %d passes remembered): spf_ms mean %.2f, p50 %s, p90 %s, p99 %s, max %d\n", \
			nspf, spfremembered, nspf ? spfsum / nspf : 0, pct(0.50), pct(0.90), pct(0.99), spfmax
	}
	for (m in other)
		printf "soak: milter said %d x: %s\n", other[m], m
	for (m in pfwarn)
		printf "soak: Postfix front warned %d x: %s\n", pfwarn[m], m
	printf "soak: wrong decisions: %d", nwrong + 0
	sep = " ("
	for (k in kinds) {
		printf "%s%s %d", sep, k, kinds[k]
		sep = ", "
	}
	print (nwrong ? ")" : "")
	if (nincons)
		print "soak: inconsistencies: " nincons
	if (uncovered != "")
		print "soak: not covered:" uncovered
	printf "RESULT wrong=%d inconsistent=%d decisions=%d transactions=%d uncovered=%d\n", nwrong, nincons, \
		decisions, transactions, split(uncovered, p, " ")
}
