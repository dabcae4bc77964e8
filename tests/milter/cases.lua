-- SPDX-License-Identifier: BSD-2-Clause
-- cases.lua - protocol-level cases for sav-milter, run by
-- tests/lab/milter-lab.sh with miltertest inside the lab namespace
-- (the world of milter-lib.sh: fake DNS, a Postfix MX, fake servers).
--
-- Globals from miltertest -D: sock (the milter's socket), log (its -f
-- stderr: one decision line per MAIL FROM), conf (its configuration
-- file), pid (its process id).
--
-- Every case asserts the milter's reply to MAIL FROM (SMFIR_ACCEPT 'a'
-- for an accepted sender in enforce mode: nothing more is needed of the
-- message, so the MTA sends us nothing more for it; SMFIR_CONTINUE 'c'
-- in monitor mode, which still needs the end of the message; or
-- SMFIR_REPLYCODE 'y' when it set a reply and refused) AND its
-- decision line (verdict, reason, action). This miltertest cannot read
-- back the reply text or code outside EOM; the codes are asserted end
-- to end through Postfix (postfix-lab.sh) and in tests/check_decide.c.
--
-- Output: "ok - NAME" / "not ok - NAME: got X, want Y" lines, which
-- milter-lab.sh counts. A Lua error is caught and reported as one
-- failure (miltertest itself exits 1 without a message on errors).

local unpack = table.unpack or unpack
local C, A, Y = SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_REPLYCODE
local REMOTE = "203.0.113.9"

local function say(s) mt.echo(s) end

local function ok(name) say("ok - " .. name) end
local function not_ok(name, why) say("not ok - " .. name .. ": " .. why) end

local function rname(r)
	if r == C then return "continue" end
	if r == Y then return "replycode" end
	if r == A then return "accept" end
	if r == SMFIR_REJECT then return "reject" end
	if r == SMFIR_TEMPFAIL then return "tempfail" end
	return tostring(r)
end

-- log helpers ------------------------------------------------------

local function loglines()
	local t = {}
	local f = io.open(log, "r")
	if f == nil then return t end
	for l in f:lines() do t[#t + 1] = l end
	f:close()
	return t
end

local function count(pattern)
	local n = 0
	for _, l in ipairs(loglines()) do
		if string.find(l, pattern, 1, true) then n = n + 1 end
	end
	return n
end

-- decision - the last decision line for the logged sender (plain match)
local function decision(logged)
	local want = "sender=" .. logged .. " "
	local last
	for _, l in ipairs(loglines()) do
		if string.find(l, want, 1, true) then last = l end
	end
	return last
end

local function field(line, key)
	if line == nil then return nil end
	return string.match(" " .. line, " " .. key .. "=(%S+)")
end

-- wait_log - wait (5 s at most) until pattern has been logged n times
local function wait_log(pattern, n)
	for _ = 1, 50 do
		if count(pattern) >= n then return true end
		mt.sleep(0.1)
	end
	return false
end

-- protocol helpers ---------------------------------------------------

local function session(ip)
	local conn = mt.connect(sock, 40, 0.05)
	if conn == nil then error("cannot connect to " .. sock) end
	local e = mt.negotiate(conn, nil, nil, nil)
	if e ~= nil then error("negotiate: " .. tostring(e)) end
	e = mt.conninfo(conn, "client.lab.test", ip)
	if e ~= nil then error("conninfo: " .. tostring(e)) end
	if mt.getreply(conn) ~= C then error("connect not continued") end
	return conn
end

local function mail(conn, sender, macros, args)
	if macros ~= nil then mt.macro(conn, SMFIC_MAIL, unpack(macros)) end
	local e = mt.mailfrom(conn, sender, unpack(args or {}))
	if e ~= nil then error("mailfrom " .. sender .. ": " .. tostring(e)) end
	return mt.getreply(conn)
end

-- expect - one case: reply and decision line
local function expect(name, r, want_r, logged, verdict, reason, action, extra)
	local line = decision(logged)
	local why = {}
	if r ~= want_r then why[#why + 1] = "got reply " .. rname(r) .. ", want " .. rname(want_r) end
	if line == nil then
		why[#why + 1] = "got no decision line for sender=" .. logged
	else
		local checks = { verdict = verdict, reason = reason, action = action }
		for k, v in pairs(extra or {}) do checks[k] = v end
		for k, v in pairs(checks) do
			local got = field(line, k)
			if v == false then
				if got ~= nil then why[#why + 1] = "got " .. k .. "=" .. got .. ", want none" end
			elseif got ~= v then
				why[#why + 1] = "got " .. k .. "=" .. tostring(got) .. ", want " .. v
			end
		end
	end
	if #why == 0 then ok(name) else not_ok(name, table.concat(why, "; ") .. " [" .. tostring(line) .. "]") end
end

-- one-transaction cases: { name, client, sender as sent, logged sender,
-- macros, esmtp args, reply, verdict, reason, action, extra fields }
local cases = {
	-- exemptions (each verdict=skipped with its reason)
	{ "milter: null sender is skipped", REMOTE, "<>", "<>", nil, nil, A, "skipped", "null-sender", "accept" },
	{ "local submission (no client address) is skipped", "unspec", "<local@example.test>", "<local@example.test>",
	  nil, nil, A, "skipped", "local-submission", "accept", { client = false } },
	{ "authenticated client is skipped", REMOTE, "<auth@example.test>", "<auth@example.test>",
	  { "{auth_authen}", "alice" }, nil, A, "skipped", "authenticated", "accept" },
	{ "TrustedNetworks client is skipped", "127.0.0.1", "<trusted@example.test>", "<trusted@example.test>",
	  nil, nil, A, "skipped", "trusted-network", "accept", { client = "[127.0.0.1]" } },
	{ "a loopback client outside TrustedNetworks is probed", "127.0.0.9", "<bob@catchall.test>", "<bob@catchall.test>",
	  nil, nil, A, "catch-all", nil, "accept", { client = "[127.0.0.9]" } },
	{ "milter: our own ProbeSender is skipped", REMOTE, "<verify@probe.lab.test>", "<verify@probe.lab.test>",
	  nil, nil, A, "skipped", "probe-sender", "accept" },
	{ "ExemptDomains sender is skipped", REMOTE, "<someone@exempt.test>", "<someone@exempt.test>",
	  nil, nil, A, "skipped", "exempt-domain", "accept" },
	-- every verdict
	{ "valid sender continues", REMOTE, "<alice@example.test>", "<alice@example.test>",
	  nil, nil, A, "valid", nil, "accept", { mx = "mx.example.test", ip = "127.0.0.2", code = "250", client = "[" .. REMOTE .. "]" } },
	{ "invalid sender is refused", REMOTE, "<nobody@example.test>", "<nobody@example.test>",
	  nil, nil, Y, "invalid", "user-unknown", "reject", { code = "550", dsn = "5.1.1", cache = "miss" } },
	{ "invalid sender again: answered from the cache", REMOTE, "<nobody@example.test>", "<nobody@example.test>",
	  nil, nil, Y, "invalid", "user-unknown", "reject", { cache = "hit" } },
	{ "dns: NXDOMAIN sender domain is refused", REMOTE, "<u@nxdomain.test>", "<u@nxdomain.test>",
	  nil, nil, Y, "bad-domain", "nxdomain", "reject" },
	{ "dns: null MX sender domain is refused", REMOTE, "<u@nullmx.test>", "<u@nullmx.test>",
	  nil, nil, Y, "bad-domain", "null-mx", "reject" },
	{ "address: malformed sender is refused", REMOTE, "<a@b>>", "<a@b>>",
	  nil, nil, Y, "bad-syntax", nil, "reject" },
	{ "smtp: catch-all domain continues", REMOTE, "<anyone@catchall.test>", "<anyone@catchall.test>",
	  nil, nil, A, "catch-all", nil, "accept" },
	{ "smtp: policy refusal is unknown and continues", REMOTE, "<someone@policy.test>", "<someone@policy.test>",
	  nil, nil, A, "unknown", "policy-block", "accept", { code = "550", dsn = "5.7.1" } },
	{ "smtp: greylisted sender is tempfailed", REMOTE, "<grey@example.test>", "<grey@example.test>",
	  nil, nil, Y, "tempfail", "greylisted", "tempfail", { code = "450" } },
	{ "dns: SERVFAIL sender domain is tempfailed", REMOTE, "<u@servfail.test>", "<u@servfail.test>",
	  nil, nil, Y, "tempfail", "servfail", "tempfail" },
	{ "smtp: mailbox full is not refused", REMOTE, "<full@example.test>", "<full@example.test>",
	  nil, nil, A, nil, "mailbox-full", "accept", { code = "552" } },
	-- sender forms, ESMTP parameters, queue id
	{ "milter: unbracketed sender", REMOTE, "bob@example.test", "<bob@example.test>",
	  nil, nil, A, "valid", nil, "accept" },
	{ "address: source route is dropped", REMOTE, "<@relay.test,@r2.test:alice@example.test>",
	  "<@relay.test,@r2.test:alice@example.test>", nil, nil, A, "valid", nil, "accept" },
	{ "address: display-name form", REMOTE, "Bob Example <bob@example.test>", "\"<Bob",
	  nil, nil, A, "valid", nil, "accept" },
	{ "milter: ESMTP parameters in argv[1..] are ignored", REMOTE, "<Alice@Example.TEST>", "<Alice@Example.TEST>",
	  nil, { "SIZE=1000", "BODY=8BITMIME" }, A, "valid", nil, "accept" },
	{ "queue id from macro i is logged", REMOTE, "<qid@catchall.test>", "<qid@catchall.test>",
	  { "i", "4QTESTQID" }, nil, A, "catch-all", nil, "accept", { qid = "4QTESTQID" } },
	{ "injection: CR/LF injection in the sender is refused and logged on one line", REMOTE,
	  "<a\r\nRSET@example.test>", "\"<a\\x0d\\x0aRSET@example.test>\"", nil, nil, Y, "bad-syntax", nil, "reject" },
}

local function run_cases()
	for _, t in ipairs(cases) do
		local conn = session(t[2])
		local r = mail(conn, t[3], t[5], t[6])
		expect(t[1], r, t[7], t[4], t[8], t[9], t[10], t[11])
		mt.disconnect(conn)
	end
	-- the injected CR/LF never produced a line of its own
	local forged = 0
	for _, l in ipairs(loglines()) do
		if string.sub(l, 1, 4) == "RSET" then forged = forged + 1 end
	end
	if forged == 0 then ok("injection: no forged log line") else not_ok("injection: no forged log line", "got " .. forged .. " lines starting RSET") end
end

-- several transactions on one connection each get their own verdict
local function run_multi()
	local conn = session(REMOTE)
	local r1 = mail(conn, "<nobody@example.test>")
	local r2 = mail(conn, "<bob@example.test>")
	mt.abort(conn)		-- RSET
	local r3 = mail(conn, "<grey@example.test>")
	local r4 = mail(conn, "<>")
	mt.disconnect(conn)
	local want = { { r1, Y, "nobody@example.test" }, { r2, A, "bob@example.test" },
		       { r3, Y, "grey@example.test" }, { r4, A, "" } }
	local why = {}
	for i, w in ipairs(want) do
		if w[1] ~= w[2] then
			why[#why + 1] = "MAIL " .. i .. " <" .. w[3] .. ">: got " .. rname(w[1]) .. ", want " .. rname(w[2])
		end
	end
	if #why == 0 then ok("second MAIL FROM and MAIL after RSET each get their own verdict")
	else not_ok("second MAIL FROM and MAIL after RSET each get their own verdict", table.concat(why, "; ")) end
end

-- SIGHUP: a valid new configuration is swapped in for new connections,
-- a connection in progress keeps its snapshot, a broken file is refused
local function run_reload()
	local a = session(REMOTE)
	local ra1 = mail(a, "<nobody@example.test>")
	local reloads = count("configuration reloaded")

	os.execute("cp '" .. conf .. "' '" .. conf .. ".enforce' && echo 'Mode monitor' >> '" .. conf .. "' && kill -HUP " .. pid)
	if not wait_log("configuration reloaded", reloads + 1) then
		not_ok("SIGHUP reloads a valid configuration", "no 'configuration reloaded' line")
		return
	end
	ok("SIGHUP reloads a valid configuration")

	-- the old connection is still there and still enforces
	local ra2 = mail(a, "<nobody@example.test>")
	if ra1 == Y and ra2 == Y then ok("connection in progress keeps its configuration across SIGHUP")
	else not_ok("connection in progress keeps its configuration across SIGHUP",
		    "got " .. rname(ra1) .. " then " .. rname(ra2) .. ", want replycode twice") end

	-- a new connection is in monitor mode: continue, and a header at EOM
	local b = session(REMOTE)
	local rb = mail(b, "<nobody@example.test>")
	local line = decision("<nobody@example.test>")
	if rb == C and field(line, "mode") == "monitor" and field(line, "action") == "reject" then
		ok("monitor mode: invalid sender continues, logged action=reject mode=monitor")
	else
		not_ok("monitor mode: invalid sender continues, logged action=reject mode=monitor",
		       "got " .. rname(rb) .. " [" .. tostring(line) .. "]")
	end
	-- the MTA sends RCPT and DATA macros even for skipped events, and
	-- nobody answers them: monitor mode takes both events and answers
	if mt.test_option(b, SMFIP_NORCPT) or mt.test_option(b, SMFIP_NODATA) then
		not_ok("monitor mode takes RCPT and DATA (no unanswered packets)", "got SMFIP_NORCPT or SMFIP_NODATA negotiated")
	else
		local rr = mt.rcptto(b, "<rcpt@dest.test>") == nil and mt.getreply(b)
		local rd = mt.data(b) == nil and mt.getreply(b)
		if rr == C and rd == C then ok("monitor mode takes RCPT and DATA (no unanswered packets)")
		else not_ok("monitor mode takes RCPT and DATA (no unanswered packets)",
			    "got " .. rname(rr) .. " and " .. rname(rd) .. ", want continue twice") end
	end
	if mt.test_option(b, SMFIP_NOHDRS) then
		not_ok("monitor mode asks for headers", "got SMFIP_NOHDRS negotiated")
	else
		ok("monitor mode asks for headers")
		mt.header(b, "From", "nobody@example.test")
		mt.header(b, "X-SAV-Verdict", "verdict=valid forged=yes")
	end
	if not mt.test_option(b, SMFIP_NOEOH) then mt.eoh(b) end
	if not mt.test_option(b, SMFIP_NOBODY) then mt.bodystring(b, "hello\r\n") end
	mt.eom(b)
	local want_hdr = "verdict=invalid reason=user-unknown action=reject mode=monitor"
	if mt.eom_check(b, MT_HDRADD, "X-SAV-Verdict", want_hdr) then ok("monitor mode adds the verdict header at EOM")
	else not_ok("monitor mode adds the verdict header at EOM", "want X-SAV-Verdict: " .. want_hdr) end
	if mt.eom_check(b, MT_HDRDELETE, "X-SAV-Verdict") or mt.eom_check(b, MT_HDRCHANGE, "X-SAV-Verdict") then
		ok("monitor mode deletes a forged verdict header")
	else not_ok("monitor mode deletes a forged verdict header", "no delete of X-SAV-Verdict") end
	mt.disconnect(b)

	-- the old connection still works
	local ra3 = mail(a, "<alice@example.test>")
	if ra3 == A then ok("old connection still served after reload")
	else not_ok("old connection still served after reload", "got " .. rname(ra3)) end
	mt.disconnect(a)

	-- a broken configuration is refused; monitor mode stays
	local errs = count("keeping the running configuration")
	os.execute("echo 'NoSuchKey yes' >> '" .. conf .. "' && kill -HUP " .. pid)
	if wait_log("keeping the running configuration", errs + 1) then
		local c = session(REMOTE)
		local rc = mail(c, "<nobody@example.test>")
		mt.disconnect(c)
		if rc == C then ok("broken configuration on SIGHUP is refused, the running one stays")
		else not_ok("broken configuration on SIGHUP is refused, the running one stays", "got " .. rname(rc)) end
	else
		not_ok("broken configuration on SIGHUP is refused, the running one stays", "no error line logged")
	end

	-- back to enforce for whoever runs next
	local n = count("configuration reloaded")
	os.execute("cp '" .. conf .. ".enforce' '" .. conf .. "' && kill -HUP " .. pid)
	wait_log("configuration reloaded", n + 1)
end

local good, err = pcall(function()
	mt.set_timeout(30)
	run_cases()
	run_multi()
	run_reload()
end)
if not good then
	not_ok("miltertest script ran to the end", tostring(err))
end
