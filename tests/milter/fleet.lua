-- SPDX-License-Identifier: BSD-2-Clause
-- fleet.lua - one MAIL FROM at one sav-milter, for tests/lab/fleet-lab.sh
-- and tests/bench/bench-fleet.sh, which run one miltertest per host and
-- sender, many at once, to play several MX hosts that get the same mail.
--
-- Globals from miltertest -D: sock (the milter's socket), from (the
-- sender, without <>), ip (the SMTP client's address).
--
-- Output: one line "reply SENDER WHAT", WHAT the milter's answer to
-- MAIL FROM (accept, continue, replycode, reject, tempfail). The caller
-- times the whole run and reads the decision itself (verdict, reason,
-- cache) from the milter's log.

local C, A, Y = SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_REPLYCODE

local function rname(r)
	if r == C then return "continue" end
	if r == Y then return "replycode" end
	if r == A then return "accept" end
	if r == SMFIR_REJECT then return "reject" end
	if r == SMFIR_TEMPFAIL then return "tempfail" end
	return tostring(r)
end

mt.set_timeout(30)
local conn = mt.connect(sock, 40, 0.05)
if conn == nil then error("cannot connect to " .. sock) end
if mt.negotiate(conn, nil, nil, nil) ~= nil then error("negotiate") end
if mt.conninfo(conn, "client.lab.test", ip) ~= nil then error("conninfo") end
if mt.getreply(conn) ~= C then error("connect not continued") end
local e = mt.mailfrom(conn, "<" .. from .. ">")
if e ~= nil then error("mailfrom: " .. tostring(e)) end
local r = mt.getreply(conn)
mt.echo("reply " .. from .. " " .. rname(r))
mt.disconnect(conn)
