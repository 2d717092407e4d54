"""Layout of the causal SMC engine's explicit state and of its event records.

Everything is a plain numpy array so the state can be persisted, copied and restored byte for
byte, and so that numba step functions can work on it directly. Times are epoch milliseconds
stored in float64 (exact below 2**53).
"""

from __future__ import annotations

# Config vector (int64).
CFG_N = 0  # pivot bars N
CFG_RING = 1
CFG_OB_EXPIRY = 2
CFG_FVG_EXPIRY = 3
CFG_OB_LOOKBACK = 4
CFG_METHOD = 5  # METHOD_PIVOT / METHOD_ZIGZAG
CFG_ATR_PERIOD = 6  # ZigZag ATR period
CFG_SIZE = 7

METHOD_PIVOT = 0
METHOD_ZIGZAG = 1

# Integer scalar state (int64 vector).
I_N = 0  # candles seen
I_TREND = 1  # +1 up, -1 down, 0 unknown
I_ZONE_SEQ = 2  # next zone id
I_HAS_HIGH = 3  # a swing high has been confirmed
I_HAS_LOW = 4
I_TOP_CROSSED = 5
I_BTM_CROSSED = 6
I_LAST_TIME = 7
I_ZZ_DIR = 8  # ZigZag leg: +1 up (tracking a high), -1 down, 0 not yet started
I_SIZE = 9

# Float scalar state (float64 vector).
F_LAST_HIGH = 0  # price of the latest confirmed swing high (labels, structure reference)
F_LAST_HIGH_TIME = 1
F_LAST_LOW = 2
F_LAST_LOW_TIME = 3
F_ATR = 4  # Wilder ATR of the ZigZag (NaN during warm-up)
F_PREV_CLOSE = 5
F_TR_SUM = 6  # sum of true ranges while seeding the ATR
F_ZZ_HI = 7  # ZigZag extremes: highest high / lowest low of the current leg (both before
F_ZZ_HI_TIME = 8  # the first leg) and the open times of their candles
F_ZZ_LO = 9
F_ZZ_LO_TIME = 10
F_ZZ_MULT = 11  # configuration constant: reversal distance in ATRs (set by ``fresh``)
F_SIZE = 12

# Ring buffer of recent candles: row = bar % ring_size.
R_TIME = 0
R_OPEN = 1
R_HIGH = 2
R_LOW = 3
R_CLOSE = 4
R_VOLUME = 5
R_COLS = 6

# Zone table rows (FVG and order blocks share it).
Z_ACTIVE = 0
Z_ID = 1
Z_KIND = 2  # KIND_FVG / KIND_OB
Z_DIR = 3  # +1 bullish, -1 bearish
Z_TOP = 4
Z_BOTTOM = 5
Z_START = 6  # open time of the candle the zone describes
Z_KNOWN_BAR = 7
Z_TOUCHED = 8
Z_COLS = 9

KIND_FVG = 1
KIND_OB = 2

# Event records (float64 rows).
EV_BAR = 0  # 0-based bar position in the stream at which the event became known
EV_TIME = 1  # open time of that bar
EV_TYPE = 2
EV_REF_TIME = 3  # pivot time (swing), reference swing time (structure), zone start time
EV_A = 4  # price (swing), level (structure), top (zone)
EV_B = 5  # label (swing), bottom (zone)
EV_DIR = 6  # +1 high / up / bullish, -1 low / down / bearish
EV_KIND = 7  # zone kind
EV_ZONE = 8  # zone id
EV_COLS = 9

T_SWING = 1
T_BOS = 2
T_CHOCH = 3
T_ZONE_NEW = 4
T_ZONE_TOUCH = 5
T_ZONE_MITIGATED = 6
T_ZONE_EXPIRED = 7

LABEL_NONE = 0
LABEL_HH = 1
LABEL_LH = 2
LABEL_HL = 3
LABEL_LL = 4
LABELS = {LABEL_NONE: "", LABEL_HH: "HH", LABEL_LH: "LH", LABEL_HL: "HL", LABEL_LL: "LL"}
