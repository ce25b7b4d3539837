//! Audio codecs at the edge of the engine: G.711 µ-law and A-law.
