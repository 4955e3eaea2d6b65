<?php
// Every request under /p/pos_bridge/ lands here (no such file exists): the bridge's REST API.
// Paheko applies no authentication to /p/ paths; Api checks every request itself.

namespace Paheko\Plugin\Pos_Bridge;

Api::serve($plugin);
