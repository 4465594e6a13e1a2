package inspect

// ginTable: gin.Context's layout has been the same from v1.7 to v1.10.
var ginTable = Offsets{GinContextHandlers: 80, GinContextFullPath: 112}
