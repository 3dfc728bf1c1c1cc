"""The static leaderboard viewer (index.html, viewer.js, viewer.css)."""
