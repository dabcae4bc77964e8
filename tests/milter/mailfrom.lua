-- SPDX-License-Identifier: BSD-2-Clause
-- mailfrom.lua - one milter session per sender, MAIL FROM only, for the
-- lab scripts that need a milter decision without Postfix in front
-- (tests/lab/redis-lab.sh).
--
-- Globals from miltertest -D: sock (the milter's socket), senders (a
-- space-separated list), client (the SMTP client address, default
-- 203.0.113.9: not trusted, so the sender is verified).
--
-- Prints one "reply SENDER R" line per sender, R being the milter's
-- answer to MAIL FROM as a letter (a accept, c continue, y reply code,
-- t tempfail, r reject), or "error SENDER WHY" when the session failed.

local ip = client or "203.0.113.9"

local function session(sender)
	local conn = mt.connect(sock, 40, 0.05)
	if conn == nil then return nil, "connect" end
	if mt.negotiate(conn, nil, nil, nil) ~= nil then return nil, "negotiate" end
	if not mt.test_option(conn, SMFIP_NOCONNECT) then
		if mt.conninfo(conn, "client.lab.test", ip) ~= nil then return nil, "conninfo" end
	end
	if not mt.test_option(conn, SMFIP_NOHELO) then
		if mt.helo(conn, "client.lab.test") ~= nil then return nil, "helo" end
	end
	mt.macro(conn, SMFIC_MAIL, "{mail_addr}", sender)
	if mt.mailfrom(conn, "<" .. sender .. ">") ~= nil then return nil, "mailfrom" end
	local r = mt.getreply(conn)
	mt.disconnect(conn)
	return r, nil
end

local names = {
	[SMFIR_ACCEPT] = "a", [SMFIR_CONTINUE] = "c", [SMFIR_REPLYCODE] = "y",
	[SMFIR_TEMPFAIL] = "t", [SMFIR_REJECT] = "r",
}

for sender in string.gmatch(senders or "", "%S+") do
	local ok, r, why = pcall(session, sender)
	if not ok then
		mt.echo("error " .. sender .. " " .. tostring(r))
	elseif r == nil then
		mt.echo("error " .. sender .. " " .. tostring(why))
	else
		mt.echo("reply " .. sender .. " " .. (names[r] or tostring(r)))
	end
end
