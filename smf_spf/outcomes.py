"""The names every layer shares for what a check found and what the milter does about it:
SPF results, verdict actions and the edits made at end of message.  Plain strings (they
are logged, counted and compared as such), named once here."""

# RFC 7208 section 2.6: the results of an SPF check
PASS, FAIL, SOFTFAIL, NEUTRAL, NONE, TEMPERROR, PERMERROR = (
    'pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror')
# each result -> the word Received-SPF starts with (RFC 7208 section 9.1), in RFC order
RECEIVED_SPF_WORD = {
    PASS: 'Pass', FAIL: 'Fail', SOFTFAIL: 'SoftFail', NEUTRAL: 'Neutral', NONE: 'None',
    TEMPERROR: 'TempError', PERMERROR: 'PermError',
}
RESULTS = tuple(RECEIVED_SPF_WORD)

# what a verdict tells the MTA
CONTINUE = 'continue'
ACCEPT = 'accept'      # stop filtering: the connection (at connect) or this message
REJECT = 'reject'
TEMPFAIL = 'tempfail'

# the edits of end of message (c_rules.Edit.operation), each a libmilter call
DEL_HEADER = 'delheader'    # chgheader with an empty value
CHG_HEADER = 'chgheader'
ADD_HEADER = 'addheader'
INS_HEADER = 'insheader'
DEL_RCPT = 'delrcpt'
ADD_RCPT = 'addrcpt'
EDIT_OPERATIONS = (DEL_HEADER, CHG_HEADER, ADD_HEADER, INS_HEADER, DEL_RCPT, ADD_RCPT)
